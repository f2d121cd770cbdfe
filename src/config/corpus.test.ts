/** The 40 real fly.toml files in test/data/fly-toml: each one's outcome is recorded in EXPECTED.tsv. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { parseConfig, processGroups, renderConfig, toMachineConfig } from './mod.ts';

const dir = join(import.meta.dirname, '../../test/data/fly-toml');
const expected = readFileSync(join(dir, 'EXPECTED.tsv'), 'utf8')
  .split('\n')
  .filter((row) => row !== '' && !row.startsWith('#'))
  .map((row) => {
    const [file, outcome, errors, warnings] = row.split('\t');
    const paths = (field: string): string[] => (field === '-' ? [] : field.split(';').sort());
    return { file, outcome, errors: paths(errors), warnings: paths(warnings) };
  });

test('every corpus file has an expected outcome', () => {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.toml'))
    .sort();
  assert.equal(files.length, 40);
  assert.deepEqual(expected.map((row) => row.file).sort(), files);
});

for (const row of expected) {
  test(`corpus ${row.file}: ${row.outcome}`, () => {
    const result = parseConfig(readFileSync(join(dir, row.file), 'utf8'), { file: row.file });
    const unique = (paths: string[]): string[] => [...new Set(paths)].sort();
    assert.equal(
      result.config === undefined ? 'invalid' : 'valid',
      row.outcome,
      JSON.stringify(result.errors),
    );
    assert.deepEqual(unique(result.errors.map((issue) => issue.path)), row.errors);
    assert.deepEqual(unique(result.warnings.map((issue) => issue.path)), row.warnings);
    for (const issue of [...result.errors, ...result.warnings]) {
      assert.ok(issue.line !== undefined && issue.line > 0, `${issue.message} has a line`);
    }
    const config = result.config;
    if (!config) return;
    assert.deepEqual(parseConfig(renderConfig(config)).config, config, 'renderConfig round trip');
    for (const group of processGroups(config)) {
      try {
        const machine = toMachineConfig(config, { image: 'registry.local/app:1', processGroup: group });
        assert.equal(machine.metadata?.fly_process_group, group);
        assert.ok(machine.guest?.memory_mb && machine.guest.memory_mb >= 256);
      } catch (error) {
        // 30-fly-apps-vllm-demo reads a local start.sh that is not part of the corpus.
        assert.ok(isNearbyError(error, 'CONFIG_FILE_UNREADABLE'), String(error));
      }
    }
  });
}

test('the corpus rejects what a user would agree with', () => {
  const etcd = parseConfig(readFileSync(join(dir, '09-fly-apps-fly-etcd.toml'), 'utf8'));
  assert.match(
    etcd.errors.map((issue) => issue.message).join('\n'),
    /script checks ran on Fly’s Nomad platform only/,
  );
  assert.match(etcd.errors.map((issue) => issue.message).join('\n'), /"40" has no unit: write "40s"/);
  const supavisor = parseConfig(readFileSync(join(dir, '15-supabase-supavisor.toml'), 'utf8'));
  assert.deepEqual(supavisor.errors, [
    {
      path: 'services[1].ports[0].protocol',
      line: 53,
      message: 'unknown key [services[1].ports[0]] protocol — protocol belongs in its [[services]] table',
    },
  ]);
});
