/**
 * Fuzz target: the fly.toml / nearby.toml parser and validator (src/config/). Each input is a
 * config file. Properties: parseConfig never throws; every problem is an issue with a key path, a
 * message and the line it is on; a valid config renders to text that parses back to the same
 * config, and becomes a machine config for each of its process groups (or a NearbyError).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, processGroups, renderConfig, toMachineConfig } from '../../../src/config/mod.ts';
import type { ConfigIssue } from '../../../src/config/types.ts';
import { isNearbyError } from '../../../src/errors.ts';
import { mutateToml } from '../mutate-text.ts';
import type { FuzzTarget, Harness } from '../runner.ts';

const REAL_FILES = join(import.meta.dirname, '../../data/fly-toml');

const KEYS = (
  'app primary_region kill_signal kill_timeout swap_size_mb console_command build deploy env processes ' +
  'http_service services checks vm compute mounts mount metrics statics files restart experimental ' +
  'image dockerfile build-target args strategy release_command max_unavailable wait_timeout ' +
  'internal_port force_https auto_stop_machines auto_start_machines min_machines_running concurrency ' +
  'type soft_limit hard_limit ports port handlers start_port end_port protocol tls_options alpn ' +
  'http_options response headers http_checks tcp_checks interval timeout grace_period method path ' +
  'memory memory_mb cpus cpu_kind size gpus source destination initial_size auto_extend_size_limit ' +
  'guest_path local_path raw_value secret_name policy retries cmd entrypoint exec auto_rollback ' +
  'services.ports services.concurrency http_service.checks http_service.concurrency vm.memory ' +
  '"quoted key" a.b.c processes.app env.PORT'
).split(' ');

function checkIssue(issue: ConfigIssue, kind: string): void {
  assert.equal(typeof issue.path, 'string', `${kind} path`);
  assert.ok(typeof issue.message === 'string' && issue.message.trim() !== '', `${kind} has a message`);
  if (issue.line !== undefined)
    assert.ok(
      Number.isInteger(issue.line) && issue.line >= 1,
      `${kind} line ${issue.line}: ${issue.message}`,
    );
}

export const configTarget: FuzzTarget = {
  name: 'config',
  ext: 'toml',
  async start(): Promise<Harness> {
    const seeds = readdirSync(REAL_FILES)
      .filter((name) => name.endsWith('.toml'))
      .map((name) => readFileSync(join(REAL_FILES, name)));
    return {
      dictionary: KEYS,
      seeds,
      mutate: mutateToml,
      async run(input) {
        const result = parseConfig(input.toString('utf8'), { file: 'fly.toml' });
        for (const issue of result.errors) checkIssue(issue, 'error');
        for (const issue of result.warnings) checkIssue(issue, 'warning');
        const config = result.config;
        if (!config) {
          assert.ok(result.errors.length > 0, 'an invalid config says why');
          return `invalid ${result.errors[0].path.replace(/\[\d+\]/g, '[]')}`;
        }
        assert.deepEqual(parseConfig(renderConfig(config)).config, config, 'renderConfig round trip');
        for (const group of processGroups(config)) {
          try {
            toMachineConfig(config, { image: 'registry.test/app:1', processGroup: group });
          } catch (error) {
            if (!isNearbyError(error)) throw error;
          }
        }
        return `valid ${Object.keys(config).sort().join(',')}`;
      },
      async close() {},
    };
  },
};
