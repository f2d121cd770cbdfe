/* The native test server (native/hello.c) that every end-to-end test runs in its machines. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from '../../run-command.ts';
import { ensureNativeBuilt, HELLO_PATH } from './mod.ts';

describe('hello test server', () => {
  const port = randomInt(20_000, 60_000);
  const base = `http://127.0.0.1:${port}`;
  let server: ChildProcess;
  let output = '';

  before(async () => {
    await ensureNativeBuilt();
    server = spawn(HELLO_PATH, [], {
      env: {
        PORT: String(port),
        FLY_MACHINE_ID: 'm1',
        FLY_REGION: 'fra',
        FLY_APP_NAME: 'demo',
        SECRET_X: 'y',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    server.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    for (let i = 0; i < 200 && !output.includes('listening'); i++) await sleep(10);
  });
  after(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });

  it('answers its routes and logs each request', async () => {
    assert.match(output, new RegExp(`^hello: listening on :${port} uid=\\d+ machine=m1$`, 'm'));
    assert.equal(await (await fetch(`${base}/`)).text(), 'hello from m1 in fra\n');
    const first = (await (await fetch(`${base}/json`)).json()) as Record<string, unknown>;
    assert.equal(first.machine_id, 'm1');
    assert.equal(first.app, 'demo');
    assert.equal(first.pid, server.pid);
    const second = (await (await fetch(`http://[::1]:${port}/json`)).json()) as {
      counter: number;
    };
    assert.equal(second.counter, (first.counter as number) + 1);
    assert.match(await (await fetch(`${base}/env`)).text(), /^SECRET_X=y$/m);
    const headers = await (await fetch(`${base}/headers`, { headers: { 'x-probe': 'abc' } })).text();
    assert.match(headers, /^x-probe: abc\r?$/im);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal(await (await fetch(`${base}/sleep?ms=20`)).text(), 'slept 20 ms\n');
    assert.match(output, /^hello: GET \/nope 404$/m);
  });

  it('exits with the code asked for', async () => {
    const response = await fetch(`${base}/exit?code=5`);
    assert.equal(response.status, 200);
    const [code] = await once(server, 'exit');
    assert.equal(code, 5);
  });

  it('fails at once with --fail, and says goodbye on SIGTERM', async () => {
    const failed = await runCommand(HELLO_PATH, ['--fail']);
    assert.equal(failed.code, 3);
    assert.match(failed.stderr, /hello: /);

    const idle = spawn(HELLO_PATH, ['--no-listen'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let text = '';
      idle.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      for (let i = 0; i < 200 && !text.includes('not listening'); i++) await sleep(10);
      idle.kill('SIGTERM');
      const [code] = await once(idle, 'exit');
      assert.equal(code, 0);
      assert.match(text, /^hello: SIGTERM, bye$/m);
    } finally {
      if (idle.exitCode === null) idle.kill('SIGKILL');
    }
  });
});
