/**
 * The GeoDNS's edge checks with real listeners on 127.0.0.x: an edge that stops answering is left
 * out after two failed probes and its users get the next nearest region; back, it is answered
 * again after two passes; with every edge failing the table is answered whole.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { readRttMatrix } from '../world/matrix.ts';
import { checkEdges } from './edge-health.ts';
import { chooseRegion, type GeoTables } from './geo-answer.ts';
import { parseNetworksTable } from './networks-table.ts';
import { parseRegionsTable } from './regions-table.ts';

const tables: GeoTables = {
  zone: 'apps.example',
  networks: parseNetworksTable('198.51.100.0/24 syd\n'),
  regions: parseRegionsTable('iad 127.0.0.21\nsyd 127.0.0.22\n'),
  matrix: readRttMatrix(),
};

/** An edge on `port` of `address`: any HTTP answer passes its probe. */
async function edge(address: string, port = 0): Promise<Server> {
  const server = createServer((_, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return server;
}

const until = async (what: string, ok: () => boolean) => {
  for (let tries = 0; tries < 100 && !ok(); tries++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(ok(), what);
};

test('an edge failing its probes is left out, and answered again once it passes', async () => {
  const controller = new AbortController();
  const lines: string[] = [];
  const iad = await edge('127.0.0.21');
  // Both edges on one port, as edges are.
  const port = (iad.address() as AddressInfo).port;
  let syd = await edge('127.0.0.22', port);
  try {
    const checks = checkEdges(
      () => tables,
      { intervalMs: 100, fall: 2, rise: 2, port, log: (line) => lines.push(line) },
      controller.signal,
    );
    const regionFor = () => chooseRegion(checks.healthy(tables), '198.51.100.7').region;
    assert.equal(regionFor(), 'syd');
    await new Promise<void>((resolve) => syd.close(() => resolve()));
    await until('syd left out', () => regionFor() === 'iad');
    assert.ok(lines.includes('edge 127.0.0.22 fails its checks: left out'), lines.join('\n'));
    syd = await edge('127.0.0.22', port);
    await until('syd answered again', () => regionFor() === 'syd');
    // Every edge failing: the whole table is answered (an answer that may work beats none).
    await Promise.all([iad, syd].map((server) => new Promise((resolve) => server.close(resolve))));
    await until('both left out', () => lines.filter((line) => line.endsWith('left out')).length >= 3);
    assert.equal(checks.healthy(tables), tables);
  } finally {
    controller.abort();
    iad.close();
    syd.close();
  }
});
