import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { geoAnswer } from '../edge/geo-answer.ts';
import { parseNetworksTable } from '../edge/networks-table.ts';
import { parseRegionsTable } from '../edge/regions-table.ts';
import { isNearbyError } from '../errors.ts';
import { worldDnsTables } from './dns-tables.ts';
import { parseRttMatrix, readRttMatrix } from './matrix.ts';
import { nearestRegion, planWorld, type WorldOptions } from './plan.ts';

const options: WorldOptions = {
  regions: ['iad', 'fra', 'syd'],
  clients: ['syd', 'sin'],
  hostsPerRegion: 2,
  name: 'x',
  octet: 77,
  appsDomain: 'world.test',
};

test('the matrix keeps its sources, is symmetric, and refuses unknown cities and missing pairs by code', () => {
  const matrix = readRttMatrix();
  assert.ok(matrix.sources.get('azure-p50-2026')?.includes('learn.microsoft.com'));
  assert.deepEqual(matrix.rtt('syd', 'iad'), matrix.rtt('iad', 'syd'));
  assert.equal(matrix.rtt('iad', 'fra').ms, 94);
  assert.equal(matrix.rtt('fra', 'fra').ms, 0);
  assert.throws(
    () => matrix.rtt('iad', 'xyz'),
    (error) => isNearbyError(error, 'WORLD_UNKNOWN_CITY'),
  );
  const small = parseRttMatrix(
    '# source: t = a test\nfrom\tto\trtt_ms\tsource_tag\naaa\tbbb\t10\tt\nbbb\tccc\t5\tt\n',
  );
  assert.throws(
    () => small.rtt('aaa', 'ccc'),
    (error) => isNearbyError(error, 'WORLD_MISSING_PAIR'),
  );
  assert.throws(
    () => parseRttMatrix('aaa\tbbb\t10\tnosource\n'),
    (error) => isNearbyError(error, 'WORLD_MATRIX_INVALID'),
  );
});

test('the plan: a /24 per city, namespaces per host and client, half the RTT each way per other city', () => {
  const plan = planWorld(options, readRttMatrix());
  assert.deepEqual(plan.cities, ['iad', 'fra', 'syd', 'sin']);
  assert.equal(plan.hosts.length, 6);
  assert.deepEqual(plan.hosts.map((host) => [host.hostName, host.netns, host.address]).slice(0, 2), [
    ['iad-1', 'nbwx-iad-1', '10.77.1.10'],
    ['iad-2', 'nbwx-iad-2', '10.77.1.11'],
  ]);
  const sydClient = plan.clients[0];
  assert.equal(sydClient.address, '10.77.3.100', "a client shares its city's /24 with the region's hosts");
  const toIad = sydClient.delays.find((link) => link.city === 'iad');
  assert.deepEqual(toIad, { queue: 1, network: '10.77.1.0/24', delayUs: 100_750, city: 'iad' });
  assert.ok(!sydClient.delays.some((link) => link.city === 'syd'), 'no delay within a city');
  assert.deepEqual(
    plan.natsHosts.map((host) => host.hostName),
    ['iad-1', 'fra-1', 'syd-1'],
  );
  assert.equal(plan.apiHost.hostName, 'iad-1');
  const names = [...plan.hosts, ...plan.clients].flatMap((space) => [space.veth]);
  assert.equal(new Set(names).size, names.length);
  assert.ok(
    names.every((name) => name.length <= 15),
    'interface names fit IFNAMSIZ',
  );
});

test('the plan refuses bad input before making anything', () => {
  const matrix = readRttMatrix();
  const refused = (change: Partial<WorldOptions>, code: string) =>
    assert.throws(
      () => planWorld({ ...options, ...change }, matrix),
      (error) => isNearbyError(error, code),
    );
  refused({ regions: [] }, 'WORLD_INVALID');
  refused({ regions: ['iad', 'zzz'] }, 'WORLD_UNKNOWN_CITY');
  refused({ regions: ['iad', 'iad'] }, 'WORLD_INVALID');
  refused({ hostsPerRegion: 0 }, 'WORLD_INVALID');
  refused({ name: 'toolong' }, 'WORLD_INVALID');
});

test('GeoDNS: a client gets the edges of its nearest region, by the /24 it asks from', () => {
  const matrix = readRttMatrix();
  const plan = planWorld(options, matrix);
  assert.equal(nearestRegion('sin', ['iad', 'fra', 'syd'], matrix), 'syd');
  const text = worldDnsTables(plan);
  const tables = {
    zone: 'world.test',
    networks: parseNetworksTable(text.networks),
    regions: parseRegionsTable(text.regions),
    matrix,
  };
  assert.equal(tables.networks.cityOf('10.77.4.100')?.city, 'sin');
  assert.equal(tables.networks.cityOf('10.78.4.100'), undefined);
  const query = dnsPacket.encode({
    type: 'query',
    id: 0x1234,
    questions: [{ type: 'A', name: 'hello.world.test' }],
  });
  const { reply, decision } = geoAnswer(query, tables, '10.77.4.100');
  assert.equal(decision?.region, 'syd');
  const answers = dnsPacket.decode(reply).answers as { data: string }[];
  assert.deepEqual(
    answers.map((answer) => answer.data),
    ['10.77.3.10', '10.77.3.11'],
  );
});
