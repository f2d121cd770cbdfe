/**
 * Anycast, end to end on this host: two edge hosts (namespaces) announce one address with
 * `nearby anycast announce` (bird2), a client "ISP" (bird, local preference by RTT) prefers the
 * near one; a drain and a killed edge withdraw its route and the client is answered by the far
 * one; undrained and restarted, the client returns to the near one. Prints the failover times.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { renderIspConfig } from '../src/anycast/bird-config.ts';
import { eventually, nearbyBin } from './helpers/nearby.ts';

const run = promisify(execFile);

describe('Anycast: two edges announce one address, a client follows the nearest healthy one', {
  concurrency: false,
}, () => {
  const n = 200 + Math.floor(Math.random() * 50);
  const bridge = `nbac${n}`;
  const anycast = `198.18.${n}.1`;
  const edges = [
    { name: 'near', netns: `nbac${n}-near`, address: `10.250.${n}.10`, rttMs: 18 },
    { name: 'far', netns: `nbac${n}-far`, address: `10.250.${n}.11`, rttMs: 94 },
  ];
  const client = { netns: `nbac${n}-c`, address: `10.250.${n}.100` };
  const children: ChildProcess[] = [];
  const servers = new Map<string, ChildProcess>();
  let dir: string;

  const ip = (...args: string[]) => run('ip', args);
  const startDetached = (args: string[]) => {
    const child = spawn('ip', ['netns', 'exec', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk) => process.stdout.write(`# ${chunk}`));
    child.stderr?.on('data', () => {});
    children.push(child);
    return child;
  };
  const startEdge = (edge: (typeof edges)[number]) =>
    servers.set(
      edge.name,
      startDetached([
        ...[edge.netns, process.execPath, '-e'],
        `require('http').createServer((q, s) => s.end('edge ${edge.name}')).listen(80, '0.0.0.0')`,
      ]),
    );
  const ask = async () =>
    (
      await run('ip', [
        'netns',
        'exec',
        client.netns,
        'curl',
        '-s',
        '--max-time',
        '1',
        `http://${anycast}/`,
      ]).catch(() => ({ stdout: '' }))
    ).stdout.trim();
  const answeredBy = (name: string, what: string) =>
    eventually(async () => ((await ask()) === `edge ${name}` ? true : undefined), 30_000, what);
  /** Milliseconds from `action` to the first answer from `name`. */
  async function timeUntil(action: () => Promise<unknown>, name: string): Promise<number> {
    const started = performance.now();
    await action();
    for (;;) if ((await ask()) === `edge ${name}`) return Math.round(performance.now() - started);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nearby-anycast-'));
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('link', 'set', bridge, 'up');
    for (const [index, space] of [...edges, client].entries()) {
      await ip('netns', 'add', space.netns);
      await ip(
        'link',
        'add',
        `${bridge}v${index}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        space.netns,
      );
      await ip('link', 'set', `${bridge}v${index}`, 'master', bridge, 'up');
      await ip('-n', space.netns, 'addr', 'add', `${space.address}/24`, 'dev', 'eth0');
      await ip('-n', space.netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', space.netns, 'link', 'set', 'lo', 'up');
    }
    for (const edge of edges) {
      await ip('-n', edge.netns, 'addr', 'add', `${anycast}/32`, 'dev', 'lo');
      startEdge(edge);
      startDetached([
        ...[edge.netns, nearbyBin, 'anycast', 'announce', '--address', anycast, '--router-id', edge.address],
        ...['--local-as', '65000', '--peer', `10.250.${n}.0/24`, '--state-dir', join(dir, edge.name)],
      ]);
    }
    const config = renderIspConfig({
      routerId: client.address,
      localAs: 65100,
      peers: edges.map((edge) => ({ name: edge.name, address: edge.address, as: 65000, rttMs: edge.rttMs })),
    });
    await writeFile(join(dir, 'isp.conf'), config);
    startDetached([client.netns, 'bird', '-f', '-c', join(dir, 'isp.conf'), '-s', join(dir, 'isp.ctl')]);
  });

  after(async () => {
    for (const child of children.reverse()) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const space of [...edges, client]) {
      const { stdout } = await run('ip', ['netns', 'pids', space.netns]).catch(() => ({ stdout: '' }));
      for (const pid of stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      await ip('netns', 'delete', space.netns).catch(() => {});
    }
    await ip('link', 'delete', bridge).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  test('the client is answered by the nearest edge', async () => {
    await answeredBy('near', 'the near edge answers the Anycast address');
    const { stdout } = await ip('-n', client.netns, 'route', 'show', `${anycast}/32`);
    assert.match(stdout, new RegExp(`via ${edges[0].address.replaceAll('.', '\\.')}`));
  });

  test('drained, the near edge is withdrawn and the far one answers; undrained, the near one again', async () => {
    const drained = await timeUntil(
      () => run(nearbyBin, ['anycast', 'drain', '--state-dir', join(dir, 'near')]),
      'far',
    );
    console.log(`anycast_drain_failover_ms=${drained}`);
    const back = await timeUntil(
      () => run(nearbyBin, ['anycast', 'undrain', '--state-dir', join(dir, 'near')]),
      'near',
    );
    console.log(`anycast_return_ms=${back}`);
  });

  test('the near edge killed (-9): withdrawn, the far one answers; restarted, the near one again', async () => {
    const killed = await timeUntil(async () => servers.get('near')?.kill('SIGKILL'), 'far');
    console.log(`anycast_failover_ms=${killed}`);
    const { stdout } = await ip('-n', client.netns, 'route', 'show', `${anycast}/32`);
    assert.match(stdout, new RegExp(`via ${edges[1].address.replaceAll('.', '\\.')}`));
    startEdge(edges[0]);
    await answeredBy('near', 'the near edge answers again once it is back');
  });
});
