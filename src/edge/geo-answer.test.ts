/**
 * The GeoDNS's choices, with the real RTT matrix: the resolver's network decides, an EDNS client
 * subnet overrides it, an unlisted asker gets the fallback, a region without addresses is skipped,
 * names outside the zone are refused; and the server answers `dig` over UDP and TCP.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { isNearbyError } from '../errors.ts';
import { readRttMatrix } from '../world/matrix.ts';
import { type GeoTables, geoAnswer } from './geo-answer.ts';
import { serveGeoDns } from './geo-dns-server.ts';
import { loadGeoTables } from './geo-tables.ts';
import { parseNetworksTable } from './networks-table.ts';
import { parseRegionsTable } from './regions-table.ts';

const networks = `# resolvers of two ISPs
203.0.113.0/24 yyz
198.51.100.0/24 ams
198.51.100.128/25 syd   # more specific wins
2001:db8:1::/48 sin
`;
const regions = 'iad 192.0.2.1 2001:db8::1\nfra 192.0.2.2 192.0.2.3\nsyd 192.0.2.4\n';
const tables = (regionText = regions, fallback?: string): GeoTables => ({
  zone: 'apps.example',
  networks: parseNetworksTable(networks),
  regions: parseRegionsTable(regionText),
  matrix: readRttMatrix(),
  fallback,
});
const ask = (name: string, type: 'A' | 'AAAA' | 'TXT', ecs?: string) =>
  dnsPacket.encode({
    type: 'query',
    id: 42,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    additionals: ecs
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 1232,
            flags: 0,
            options: [{ code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: ecs }],
          },
        ]
      : [],
  } as dnsPacket.Packet);
const addresses = (reply: Buffer) =>
  (dnsPacket.decode(reply).answers ?? []).map((answer) => (answer as { data: string }).data).sort();

test("the resolver's network picks the nearest region", () => {
  assert.deepEqual(addresses(geoAnswer(ask('hello.apps.example', 'A'), tables(), '203.0.113.9').reply), [
    '192.0.2.1',
  ]);
  const ams = geoAnswer(ask('Hello.Apps.Example', 'A'), tables(), '198.51.100.7');
  assert.deepEqual(addresses(ams.reply), ['192.0.2.2', '192.0.2.3']);
  assert.equal(ams.decision?.city, 'ams');
  assert.equal(dnsPacket.decode(ams.reply).id, 42);
  assert.ok(dnsPacket.decode(ams.reply).flag_aa, 'authoritative');
  // The /25 inside ams's /24 is syd's.
  assert.deepEqual(addresses(geoAnswer(ask('x.apps.example', 'A'), tables(), '198.51.100.200').reply), [
    '192.0.2.4',
  ]);
  assert.deepEqual(addresses(geoAnswer(ask('x.apps.example', 'AAAA'), tables(), '203.0.113.9').reply), [
    '2001:db8::1',
  ]);
});

test('an EDNS client subnet is honoured over the resolver, and echoed', () => {
  // The resolver is in yyz (iad), the user behind it in ams (fra).
  const { reply, decision } = geoAnswer(
    ask('hello.apps.example', 'A', '198.51.100.0'),
    tables(),
    '203.0.113.9',
  );
  assert.deepEqual(addresses(reply), ['192.0.2.2', '192.0.2.3']);
  assert.equal(decision?.ecs, '198.51.100.0/24');
  const opt = dnsPacket.decode(reply).additionals?.find((record) => record.type === 'OPT') as {
    options: { code: number; ip: string; scopePrefixLength: number }[];
  };
  assert.equal(opt.options[0].code, 8);
  assert.equal(opt.options[0].ip, '198.51.100.0');
  assert.equal(opt.options[0].scopePrefixLength, 24);
});

test('an asker in no listed network gets the fallback region (the first listed by default)', () => {
  assert.deepEqual(addresses(geoAnswer(ask('a.apps.example', 'A'), tables(), '10.9.9.9').reply), [
    '192.0.2.1',
  ]);
  assert.deepEqual(
    addresses(geoAnswer(ask('a.apps.example', 'A'), tables(regions, 'syd'), '10.9.9.9').reply),
    ['192.0.2.4'],
  );
});

test('a region listed without addresses is skipped: the next nearest answers', () => {
  const { reply, decision } = geoAnswer(
    ask('a.apps.example', 'A'),
    tables('iad\nfra 192.0.2.2\n'),
    '203.0.113.9',
  );
  assert.equal(decision?.region, 'fra');
  assert.deepEqual(addresses(reply), ['192.0.2.2']);
});

test('names outside the zone are refused, other types get an empty answer, garbage a FORMERR', () => {
  const outside = dnsPacket.decode(geoAnswer(ask('example.com', 'A'), tables(), '203.0.113.9').reply);
  assert.equal((outside as { rcode?: string }).rcode, 'REFUSED');
  const txt = dnsPacket.decode(geoAnswer(ask('a.apps.example', 'TXT'), tables(), '203.0.113.9').reply);
  assert.equal((txt as { rcode?: string }).rcode, 'NOERROR');
  assert.equal(txt.answers?.length, 0);
  const broken = geoAnswer(Buffer.from([1, 2, 3, 4, 5]), tables(), '203.0.113.9').reply;
  assert.equal(broken.readUInt16BE(2) & 0x0f, 1);
});

test('bad tables are refused with a code and the line', async () => {
  assert.throws(
    () => parseNetworksTable('10.0.0.0/33 fra'),
    (error) => isNearbyError(error, 'EDGE_TABLE_INVALID'),
  );
  assert.throws(() => parseRegionsTable('fra 1.2.3'), /line 1: '1.2.3' is not an address/);
  const dir = await mkdtemp(join(tmpdir(), 'geo-'));
  try {
    await writeFile(join(dir, 'n'), networks);
    await writeFile(join(dir, 'r'), 'xyz 192.0.2.1\n');
    assert.throws(
      () =>
        loadGeoTables({ zone: 'apps.example', networksFile: join(dir, 'n'), regionsFile: join(dir, 'r') }),
      (error) => isNearbyError(error, 'WORLD_UNKNOWN_CITY'),
    );
    await writeFile(join(dir, 'r'), regions);
    assert.throws(
      () =>
        loadGeoTables({
          zone: 'apps.example',
          networksFile: join(dir, 'n'),
          regionsFile: join(dir, 'r'),
          fallback: 'sin',
        }),
      (error) => isNearbyError(error, 'EDGE_UNKNOWN_REGION'),
    );
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('the server answers dig over UDP and TCP, with a client subnet', async () => {
  const controller = new AbortController();
  const lines: string[] = [];
  const port = 20000 + Math.floor(Math.random() * 20000);
  let ready!: () => void;
  const bound = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const local = `127.0.0.1/32 ams\n${networks}`;
  const served = serveGeoDns(
    {
      host: '127.0.0.1',
      port,
      tables: () => ({ ...tables(), networks: parseNetworksTable(local) }),
      log: (line) => lines.push(line),
      ready,
    },
    controller.signal,
  );
  try {
    await bound;
    const dig = async (...args: string[]) =>
      (
        await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(port), '+short', '+time=2', ...args])
      ).stdout
        .trim()
        .split('\n')
        .sort();
    assert.deepEqual(await dig('hello.apps.example'), ['192.0.2.2', '192.0.2.3']);
    assert.deepEqual(await dig('+tcp', 'hello.apps.example'), ['192.0.2.2', '192.0.2.3']);
    assert.deepEqual(await dig('+subnet=203.0.113.0/24', 'hello.apps.example'), ['192.0.2.1']);
    assert.ok(
      lines.some((line) =>
        /^127\.0\.0\.1 ecs 203\.0\.113\.0\/24 \(yyz\) hello\.apps\.example → iad$/.test(line),
      ),
    );
  } finally {
    controller.abort();
    await served;
  }
});
