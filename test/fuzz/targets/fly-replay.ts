/**
 * Fuzz target: Fly-Replay, its parser (src/proxy/replay.ts) and the replayer that acts on it
 * (replay-server.ts), fed as HAProxy's Lua feeds it: POST /replay with the directive, the
 * request's header block and its body. An input is the directive on its first line, then the
 * header block and body. The "machines" are an HTTP server on loopback that answers 200, or a
 * Fly-Replay of its own when the request carries `x-replay-again`. Properties: the parser never
 * throws and yields clean fields; the replayer answers every request, with the machine's answer
 * or its own error naming Fly-Replay (never an unexpected exception's 502); it keeps answering.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type AppRecord, keys, type MachineRecord, type MachineStatus } from '../../../src/model/mod.ts';
import { ProxyMetrics } from '../../../src/proxy/metrics.ts';
import { parseReplay } from '../../../src/proxy/replay.ts';
import { startReplayer } from '../../../src/proxy/replay-server.ts';
import { SqliteStore } from '../../../src/store/mod.ts';
import { byteMutations, mutateWith } from '../mutate.ts';
import type { FuzzTarget, Harness } from '../runner.ts';

/** Generous: a busy test host must not pass for a replayer that never answers. */
const ANSWER_TIMEOUT_MS = 10_000;

/** What HAProxy can carry in a header value: no CR, LF or NUL (and no other control byte). */
const headerSafe = (text: string) =>
  [...text].filter((char) => char === '\t' || (char >= ' ' && char !== '\x7f')).join('');

function post(port: number, headers: Record<string, string>, body: Buffer) {
  return new Promise<{ status: number; body: string; fromMachine: boolean }>((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/replay', headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            fromMachine: response.headers['x-machine'] === 'yes',
          }),
        );
        response.on('error', reject);
      },
    );
    request.setTimeout(ANSWER_TIMEOUT_MS, () =>
      request.destroy(new Error(`the replayer did not answer within ${ANSWER_TIMEOUT_MS} ms`)),
    );
    request.on('error', reject);
    request.end(body);
  });
}

function checkDirective(header: string): void {
  const directive = parseReplay(header);
  for (const region of directive.regions) {
    const what = `region ${JSON.stringify(region)} of ${JSON.stringify(header.slice(0, 200))}`;
    assert.ok(region !== '' && region === region.trim() && !/[,;]/.test(region), what);
  }
  for (const value of [directive.instance, directive.app, directive.state])
    if (value !== undefined) assert.ok(!value.includes(';'), `${JSON.stringify(value)} holds no ;`);
}

export const flyReplayTarget: FuzzTarget = {
  name: 'fly-replay',
  ext: 'txt',
  async start(): Promise<Harness> {
    // Every answer of the machine says so (`x-machine`), its refusals of broken requests too.
    const machine = createServer({ requireHostHeader: false }, (request, response) => {
      request.resume();
      response.setHeader('x-machine', 'yes');
      const again = request.headers['x-replay-again'];
      try {
        if (typeof again === 'string') response.setHeader('fly-replay', again);
      } catch {
        // a value Node will not send: answer without it
      }
      response.end(`machine answered ${request.method} ${request.url}\n`);
    });
    machine.on('clientError', (_error, socket) => {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nx-machine: yes\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
      );
    });
    await new Promise<void>((resolve) => machine.listen(0, '127.0.0.1', resolve));
    const machinePort = (machine.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'nearby-fuzz-replay-'));
    const store = new SqliteStore(join(dir, 'state.db'));
    await store.put(keys.app('web'), { name: 'web', org_slug: 'acme' } as AppRecord);
    await store.put(keys.app('api'), { name: 'api', org_slug: 'acme' } as AppRecord);
    await store.put(keys.app('rival'), { name: 'rival', org_slug: 'other' } as AppRecord);
    const services = [
      { protocol: 'tcp', internal_port: machinePort, ports: [{ port: 80, handlers: ['http'] }] },
    ];
    for (const [id, app, region] of [
      ['m1', 'web', 'fra'],
      ['m2', 'web', 'fra'],
      ['m3', 'api', 'fra'],
      ['r1', 'rival', 'fra'],
    ]) {
      await store.put(keys.machine(app, id), {
        id,
        app,
        region,
        host: 'h1',
        instance_id: 'v1',
        config: { image: 'registry.test/app:1', services },
        desired: { state: 'started' },
        updated_at: '',
      } as unknown as MachineRecord);
      await store.put(keys.machineStatus('h1', id), {
        id,
        app,
        state: 'started',
        instance_id: 'v1',
        ipv4: '127.0.0.1',
      } as MachineStatus);
    }
    const replayer = await startReplayer({
      store,
      region: 'fra',
      appsDomain: 'localhost',
      metrics: new ProxyMetrics(),
      machineOf: (_backend, server) => server,
      bufferedSocket: join(dir, 'buffered.sock'),
      log: pino({ level: 'silent' }),
    });
    const replay = (directive: string, block: Buffer) => {
      const end = block.indexOf('\r\n\r\n');
      const headLength = end < 0 ? block.length : end + 4;
      return post(
        replayer.port,
        {
          'x-nearby-replay': headerSafe(directive),
          'x-nearby-app': 'web',
          'x-nearby-backend': 'app_web',
          'x-nearby-instance': 'm1',
          'x-nearby-head-length': String(headLength),
          'x-nearby-method': 'POST',
          'x-nearby-path': '/orders?x=1',
        },
        block,
      );
    };
    const stillAnswers = async () => {
      const answer = await replay('region=fra', Buffer.from('host: web.localhost\r\n\r\nbody'));
      assert.equal(answer.status, 200, `the replayer still answers: ${answer.body}`);
    };
    await stillAnswers();
    const seeds = [
      'region=fra\nhost: web.localhost\r\naccept: */*\r\n\r\n{"order":1}',
      'instance=m2\nhost: web.localhost\r\n\r\n',
      'region=fra,ams;elsewhere=true;state=abc\nhost: web.localhost\r\ncontent-length: 3\r\n\r\nabc',
      'app=api;region=fra\nhost: web.localhost\r\n\r\n',
      'app=rival\nhost: web.localhost\r\n\r\n',
      'elsewhere=true\nhost: web.localhost\r\nx-replay-again: elsewhere=true\r\n\r\n',
      'region=syd\nhost: web.localhost\r\n\r\n',
      'instance=gone;state=x=y\nhost: web.localhost\r\nfly-replay-src: instance=m9\r\n\r\n',
    ].map((text) => Buffer.from(text));
    return {
      dictionary: [
        ...['region=', 'instance=', 'app=', 'elsewhere=', 'state=', 'true', 'false', ';', ',', '=', ' '],
        ...['fra', 'ams', 'syd', 'm1', 'm2', 'm3', 'r1', 'web', 'api', 'rival', 'FRA', '\t'],
        ...['\r\n', 'x-replay-again: ', 'content-length: 99999\r\n', 'transfer-encoding: chunked\r\n'],
        ...['host: ', 'fly-replay-src: ', 'fly-force-instance-id: m2\r\n', ':', '\r\n\r\n'],
      ],
      seeds,
      mutate: (input, rng, context) => mutateWith(input, rng, context, byteMutations),
      async run(input) {
        const newline = input.indexOf(10);
        // HAProxy refuses a response whose headers pass its buffer (16 kB): no longer directive comes.
        const directive = (newline < 0 ? input : input.subarray(0, newline))
          .toString('latin1')
          .slice(0, 8192);
        const block = newline < 0 ? Buffer.alloc(0) : input.subarray(newline + 1);
        checkDirective(directive);
        const answer = await replay(directive, block);
        const what = `${JSON.stringify(directive.slice(0, 200))} answered ${answer.status}: ${answer.body.slice(0, 300)}`;
        assert.ok(answer.status >= 200 && answer.status < 600, what);
        // The machine's answer is passed on as it is; any other is the replayer's own refusal.
        if (!answer.fromMachine) assert.match(answer.body, /^\d{3} Fly-Replay: /, what);
        assert.doesNotMatch(answer.body, /\n\s+at |node:internal/, what);
        // The answer's kind, not the names it quotes: "503 Fly-Replay: app web has no".
        return `${answer.status} ${answer.fromMachine ? 'machine' : answer.body.replace(/(app|instance|region) \S+/g, '$1 _').slice(4, 40)}`;
      },
      async close() {
        await stillAnswers();
        await replayer.close();
        machine.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
