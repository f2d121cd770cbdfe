import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { edgesFor, geoAnswer } from './geo-dns.ts';
import { parseRttMatrix, readRttMatrix } from './matrix.ts';
import { cityOfAddress, nearestRegion, planWorld, type WorldOptions } from './plan.ts';

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
  assert.equal(cityOfAddress(plan, '10.77.4.100'), 'sin');
  assert.equal(cityOfAddress(plan, '10.78.4.100'), undefined);
  assert.deepEqual(edgesFor(plan, matrix, '10.77.4.100'), {
    region: 'syd',
    addresses: ['10.77.3.10', '10.77.3.11'],
  });
  // A query for hello.world.test, type A: two answers, the syd hosts' addresses.
  const name = Buffer.concat([
    ...'hello.world.test'
      .split('.')
      .map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const query = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), name]);
  const reply = geoAnswer(query, plan, matrix, '10.77.4.100');
  assert.equal(reply.readUInt16BE(0), 0x1234);
  assert.equal(reply.readUInt16BE(2) & 0x0f, 0, 'NOERROR');
  assert.equal(reply.readUInt16BE(6), 2);
  assert.deepEqual([...reply.subarray(reply.length - 4)], [10, 77, 3, 11]);
  const other = Buffer.concat([query.subarray(0, 12), Buffer.from([3, 0x63, 0x6f, 0x6d, 0, 0, 1, 0, 1])]);
  assert.equal(
    geoAnswer(other, plan, matrix, '10.77.4.100').readUInt16BE(2) & 0x0f,
    5,
    'REFUSED outside the zone',
  );
});
