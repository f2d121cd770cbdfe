/**
 * `nearby api|agent|proxy|node` as an operator meets them: a missing or bad `--nats`, a flag of
 * another part, and an unreachable NATS cluster each end in one clear error, never a stack trace.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nearbyBin } from './helpers/nearby.ts';
import { freePort } from './helpers/registry.ts';

function nearby(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nearbyBin, args, { timeout: 60_000 }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
    );
  });
}

const noStack = (stderr: string) => assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace:\n${stderr}`);

test('each part entrypoint needs --nats and says so', async () => {
  for (const part of ['api', 'agent', 'proxy', 'node']) {
    const { code, stderr } = await nearby([part]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`^Error: nearby ${part} needs --nats URLS`, 'm'));
    noStack(stderr);
  }
});

test("a bad URL or another part's flag is a usage error naming it", async () => {
  const bad = await nearby(['agent', '--nats', 'http://10.0.0.1/x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--nats: 'http:\/\/10\.0\.0\.1\/x' is not a NATS server URL/);
  const foreign = await nearby(['proxy', '--nats', 'nats://127.0.0.1:4222', '--machine-cidr', '10.1.0.0/24']);
  assert.equal(foreign.code, 2);
  assert.match(foreign.stderr, /machine-cidr/);
  assert.match(foreign.stderr, /nearby proxy --help/);
});

test('an unreachable NATS cluster is STORE_UNAVAILABLE with its URLs, not a stack trace', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'nearby-entrypoint-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const url = `nats://127.0.0.1:${await freePort()}`;
  const { code, stderr } = await nearby([
    'api',
    '--nats',
    url,
    '--data-dir',
    dataDir,
    '--log-format',
    'json',
  ]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, new RegExp(`^Error: .*${url.replace(/[.:/]/g, '\\$&')}.*unreachable`, 'm'));
  assert.match(stderr, /^Hint: /m);
  noStack(stderr);
});
