/**
 * Operating a deployed app, end to end: `nearby ssh console` (with and without a terminal, exit
 * codes, stdin), `nearby scale count|memory|show`, and `nearby secrets set` (rolling restart) vs
 * `--stage` + `secrets deploy`. Real registry, `nearby server`, crun, HAProxy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MachineView } from '../src/model/mod.ts';
import { helloImage } from './helpers/images.ts';
import { type CliResult, nearbyBin, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { startRegistry } from './helpers/registry.ts';

describe('operating an app: console, scale, secrets', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let dir: string;
  const app = 'ops';
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    const registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    dir = await mkdtemp(join(tmpdir(), 'nearby-ops-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'nearby.toml'),
      `app = "${app}"\nprimary_region = "${nearby.region}"\nconsole_command = "/bin/sh -l"\n\n` +
        `[build]\n  image = "${image}"\n\n[http_service]\n  internal_port = 8080\n`,
    );
    const deployed = await nearby.cli(['deploy', '--no-ha'], { cwd: dir });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
  });

  const cli = (args: string[]) => nearby.cli(args, { cwd: dir, timeoutMs: 120_000 });
  const machines = async () => (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
  const started = async () => (await machines()).filter((m) => m.state === 'started');

  /** Runs the CLI with `input` on its stdin (a pipe, not a terminal). */
  const withInput = (args: string[], input: string[]) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = spawn(nearbyBin, args, { cwd: dir, env: nearby.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      // Lines are sent one by one, as a person types: the shell must read each as it comes.
      (async () => {
        for (const line of input) {
          await new Promise((r) => setTimeout(r, 200));
          child.stdin.write(line);
        }
        child.stdin.end();
      })();
    });

  test('ssh console -C runs a command: stdout, stderr and exit code come back apart', async () => {
    const result = await cli(['ssh', 'console', '-C', 'sh -c "echo out; echo err >&2; exit 3"']);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
  });

  test('ssh console without a terminal reads commands from stdin', async () => {
    const result = await withInput(['ssh', 'console', '--no-pty'], ['echo $((6 * 7))\n', 'exit 4\n']);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stdout, /^42$/m);
  });

  test('ssh console --pty gives the command a terminal, with a window size, and relays typing', async () => {
    const tty = await cli(['ssh', 'console', '--pty', '-C', 'sh -c "tty; echo $TERM"']);
    assert.equal(tty.code, 0, tty.stderr);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r?$/m);
    assert.match(tty.stdout, /^xterm\r?$/m);
    // The window size is asked once the shell runs: a one-shot command can start before the relay
    // has set it on the terminal.
    const typed = await withInput(
      ['ssh', 'console', '--pty'],
      ['echo $((6 * 7))\r', 'stty size\r', 'exit 5\r'],
    );
    assert.equal(typed.code, 5, typed.stderr);
    assert.match(typed.stdout, /^42\r?$/m, 'the shell saw the typed line and answered on the terminal');
    assert.match(typed.stdout, /^24 80\r?$/m, 'the default window size');
  });

  test('ssh console refuses clearly when there is nothing to open it in', async () => {
    const result = await cli(['ssh', 'console', '--machine', 'nosuchmachine', '-C', 'true']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /nosuchmachine/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('scale count adds machines like the deployed one and removes the surplus', async () => {
    const up = await cli(['scale', 'count', '3']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(up.stdout, /Group app: 1 → 3/);
    const three = await started();
    assert.equal(three.length, 3);
    assert.equal(new Set(three.map((m) => m.image_ref.digest)).size, 1, 'the same image everywhere');
    const show = await cli(['scale', 'show']);
    assert.match(show.stdout, /^app\s+fra\s+3\s+3\s/m);
    const down = await cli(['scale', 'count', 'app=1']);
    assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
    assert.equal((await machines()).length, 1);
    const bad = await cli(['scale', 'count', 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected a count/);
  });

  test('scale memory updates each machine, which starts again with the new limit', async () => {
    const result = await cli(['scale', 'memory', '512']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const [machine] = await started();
    assert.equal(machine.config.guest?.memory_mb, 512);
    const limit = await cli(['machine', 'exec', machine.id, 'cat', '/sys/fs/cgroup/memory.max']);
    const v1 = await cli([
      'machine',
      'exec',
      machine.id,
      'cat',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes',
    ]);
    assert.ok(
      [limit.stdout.trim(), v1.stdout.trim()].includes(String(512 * 1024 * 1024)),
      `limit inside: ${limit.stdout}${v1.stdout}`,
    );
    const bad = await cli(['scale', 'vm', 'huge-9x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown VM size "huge-9x"/);
  });

  test('secrets set restarts machines to apply; --stage waits for secrets deploy', async () => {
    const envOf = async () => {
      const [machine] = await started();
      return (await cli(['machine', 'exec', machine.id, 'env'])).stdout;
    };
    const set = await cli(['secrets', 'set', 'GREETING=hello']);
    assert.equal(set.code, 0, `${set.stdout}\n${set.stderr}`);
    assert.match(set.stdout, /restarted and started/);
    assert.match(await envOf(), /^GREETING=hello$/m);
    const staged = await cli(['secrets', 'set', '--stage', 'LATER=1']);
    assert.equal(staged.code, 0, staged.stderr);
    assert.match(staged.stdout, /staged/);
    assert.doesNotMatch(await envOf(), /^LATER=/m, 'a staged secret waits');
    const applied = await cli(['secrets', 'deploy']);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(await envOf(), /^LATER=1$/m);
  });
});
