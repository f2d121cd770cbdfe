/**
 * Routing controls end to end, through a real `nearby server` and HAProxy: `Fly-Replay` answers
 * (instance=, elsewhere=, app=, region=, bodies, too-large bodies) and the request headers
 * fly-force-instance-id, fly-prefer-instance-id and fly-force-region. The machines run busybox
 * httpd with a CGI script that answers with Fly-Replay when the query asks it to.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { MachineView } from '../src/model/mod.ts';
import { buildImage, buildLayer } from '../src/oci/build.ts';
import { pushImage } from '../src/oci/push.ts';
import { busyboxLayer, PATH_ENV } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { freePort, startRegistry } from './helpers/registry.ts';

const run = promisify(execFile);

// Answers with `Fly-Replay: <replay>` (`:` for `=`) unless the request is itself a replay.
const SCRIPT = `#!/bin/sh
replay=$(echo "$QUERY_STRING" | sed -n 's/.*replay=\\([^&]*\\).*/\\1/p' | sed 's/:/=/g; s/%3B/;/g')
echo "Content-Type: text/plain"
if [ -n "$replay" ] && [ -z "$HTTP_FLY_REPLAY_SRC" ]; then echo "Fly-Replay: $replay"; fi
echo ""
body=""
if [ -n "$CONTENT_LENGTH" ]; then body=$(head -c "$CONTENT_LENGTH"); fi
echo "machine=$FLY_MACHINE_ID app=$FLY_APP_NAME src=$HTTP_FLY_REPLAY_SRC body=$body"
`;

async function curl(url: string, ...extra: string[]) {
  const { stdout } = await run('curl', ['-s', '--max-time', '20', '-D', '-', ...extra, url], {
    maxBuffer: 1 << 24,
  });
  const [head, ...rest] = stdout.split('\r\n\r\n');
  const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]);
  const headers = Object.fromEntries(
    head
      .split('\r\n')
      .slice(1)
      .map((line) => [
        line.slice(0, line.indexOf(':')).toLowerCase(),
        line.slice(line.indexOf(':') + 1).trim(),
      ]),
  );
  return { status, headers, body: rest.join('\r\n\r\n') };
}

const MIB = 1024 * 1024;

describe('routing controls: Fly-Replay and instance/region headers', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let metricsPort: number;
  const machines: Record<string, string[]> = {};
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const url = (app: string, path: string) => `http://${app}.localhost:${nearby.proxyPort}${path}`;
  /** Request bodies for curl (too large for its command line). */
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'nearby-routing-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const registry = await startRegistry(hooks);
    const image = await buildImage({
      layers: [
        await busyboxLayer(),
        await buildLayer([
          { path: 'www', type: 'dir' },
          { path: 'www/cgi-bin', type: 'dir' },
          { path: 'www/cgi-bin/app', type: 'file', content: Buffer.from(SCRIPT), mode: 0o755 },
        ]),
      ],
      config: {
        Cmd: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www'],
        Env: [PATH_ENV],
        WorkingDir: '/',
      },
    });
    await pushImage(registry.url, 'replayer', '1', image);
    metricsPort = await freePort();
    process.env.NEARBY_METRICS_LISTEN = `127.0.0.1:${metricsPort}`;
    nearby = await startNearby(hooks);
    const config = {
      image: `${registry.url}/replayer:1`,
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
    };
    for (const [app, count] of [
      ['rt', 2],
      ['other', 1],
    ] as const) {
      assert.equal((await nearby.api('POST', '/v1/apps', { app_name: app })).status, 201);
      machines[app] = [];
      for (let i = 0; i < count; i++) {
        const { body } = await nearby.api<MachineView>('POST', `/v1/apps/${app}/machines`, { config });
        await nearby.api('GET', `/v1/apps/${app}/machines/${body.id}/wait?state=started&timeout=60`);
        machines[app].push(body.id);
      }
      // Every machine in rotation before the tests.
      await eventually(async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const { body } = await curl(url(app, '/cgi-bin/app'));
          seen.add(/machine=(\S+)/.exec(body)?.[1] ?? '');
        }
        return machines[app].every((id) => seen.has(id)) ? true : undefined;
      });
    }
  });

  test('Fly-Replay instance= sends the request to that machine, with Fly-Replay-Src', async () => {
    const [first, second] = machines.rt;
    for (let i = 0; i < 8; i++) {
      const response = await curl(url('rt', `/cgi-bin/app?replay=instance:${second}`));
      assert.equal(response.status, 200, response.body);
      // Whichever machine answered first, the replay reached the one named.
      assert.match(response.body, new RegExp(`machine=${second} `));
      const source = /src=instance=([^;]+);region=fra;t=\d+/.exec(response.body)?.[1];
      assert.ok(source === first || source === second, response.body);
      assert.match(response.headers['fly-replay-src'], new RegExp(`instance=${source};region=fra`));
    }
  });

  test('elsewhere=true, app= and state= replay to another machine or app, keeping the body', async () => {
    for (let i = 0; i < 4; i++) {
      const { body } = await curl(url('rt', '/cgi-bin/app?replay=elsewhere:true%3Bstate:s1'));
      const answered = /machine=(\S+)/.exec(body)?.[1];
      const source = /src=instance=([^;]+)/.exec(body)?.[1];
      assert.ok(answered && source && answered !== source, body);
      assert.match(body, /state=s1/);
    }
    const posted = await curl(url('rt', '/cgi-bin/app?replay=app:other'), '--data-binary', 'hello-body');
    assert.equal(posted.status, 200, posted.body);
    assert.match(posted.body, new RegExp(`machine=${machines.other[0]} app=other `));
    assert.match(posted.body, /body=hello-body/);
    const here = await curl(url('rt', '/cgi-bin/app?replay=region:fra%3Belsewhere:true'));
    assert.equal(here.status, 200, 'region= of this region picks a machine here');
  });

  test('a body of 1 MiB is replayed whole; one that needs no replay passes as it is', async () => {
    const file = join(dataDir, 'one-mib.bin');
    await writeFile(file, Buffer.alloc(MIB, 'y'));
    const replayed = await curl(url('rt', '/cgi-bin/app?replay=elsewhere:true'), '--data-binary', `@${file}`);
    assert.equal(replayed.status, 200, replayed.body.slice(0, 300));
    const answered = /machine=(\S+)/.exec(replayed.body)?.[1];
    const source = /src=instance=([^;]+)/.exec(replayed.body)?.[1];
    assert.ok(answered && source && answered !== source, replayed.body.slice(0, 300));
    assert.match(replayed.headers['fly-replay-src'], new RegExp(`instance=${source};region=fra`));
    assert.equal(
      /body=(y*)/.exec(replayed.body)?.[1].length,
      MIB,
      'the whole body reached the replay target',
    );
    const plain = await curl(url('rt', '/cgi-bin/app'), '--data-binary', `@${file}`);
    assert.equal(plain.status, 200);
    assert.equal(/body=(y*)/.exec(plain.body)?.[1].length, MIB);
    assert.equal(plain.headers['fly-replay-src'], undefined);
  });

  test('replays that cannot be done answer a clear error', async () => {
    const gone = await curl(url('rt', '/cgi-bin/app?replay=instance:0000000000dead'));
    assert.equal(gone.status, 503);
    assert.match(gone.body, /instance 0000000000dead of app rt is not running or does not exist/);
    const far = await curl(url('rt', '/cgi-bin/app?replay=region:syd'));
    assert.equal(far.status, 503);
    assert.match(far.body, /no running machine in region syd/);
    const tooBig = join(dataDir, 'too-big.bin');
    await writeFile(tooBig, Buffer.alloc(MIB + 1, 'x'));
    // (No `Expect: 100-continue`, so that the answer read is the final one.)
    const big = await curl(
      url('rt', '/cgi-bin/app?replay=elsewhere:true'),
      '-H',
      'Expect:',
      '--data-binary',
      `@${tooBig}`,
    );
    assert.equal(big.status, 413);
    assert.match(
      big.body,
      /request body \(1048577 bytes\) is larger than what the proxy keeps for a replay \(1 MiB\)/,
    );
    const chunked = await curl(
      url('rt', '/cgi-bin/app?replay=elsewhere:true'),
      '-H',
      'transfer-encoding: chunked',
      '--data-binary',
      'abc',
    );
    assert.equal(chunked.status, 413);
    assert.match(chunked.body, /without Content-Length \(chunked\) cannot be replayed/);
  });

  test('fly-force-instance-id, fly-prefer-instance-id and fly-force-region pick the machine', async () => {
    const [, second] = machines.rt;
    for (let i = 0; i < 6; i++) {
      const { status, body } = await curl(
        url('rt', '/cgi-bin/app'),
        '-H',
        `fly-force-instance-id: ${second}`,
      );
      assert.equal(status, 200);
      assert.match(body, new RegExp(`machine=${second} `));
    }
    const forced = await curl(url('rt', '/cgi-bin/app'), '-H', 'fly-force-instance-id: 0000000000dead');
    assert.equal(forced.status, 503);
    assert.match(forced.body, /instance 0000000000dead of app rt is not running/);
    const preferred = await curl(url('rt', '/cgi-bin/app'), '-H', 'fly-prefer-instance-id: 0000000000dead');
    assert.equal(preferred.status, 200, 'a preferred instance that is gone: another one answers');
    const region = await curl(url('rt', '/cgi-bin/app'), '-H', 'fly-force-region: syd');
    assert.equal(region.status, 503);
    assert.match(region.body, /app rt has no running machine in region syd/);
    assert.equal((await curl(url('rt', '/cgi-bin/app'), '-H', 'fly-force-region: fra')).status, 200);
  });

  test('replays are counted in /metrics', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^nearby_proxy_replays_total\{app="rt",result="replayed"\} [1-9]/m);
    assert.match(metrics, /^nearby_proxy_replays_total\{app="rt",result="no_target"\} [1-9]/m);
  });
});
