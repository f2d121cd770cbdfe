/** Each entrypoint's settings: its own flags only, `--nats` read and checked, subnets left to the store in a cluster. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from '../cli/command.ts';
import { agentPart, apiPart, nodePart, proxyPart } from '../cli/commands/parts.ts';
import { readSettings, settingsToSave } from './settings.ts';

test('each entrypoint takes only its own flags', () => {
  assert.throws(() => parse(agentPart, ['--api-listen', '0.0.0.0:4280']), { code: 'USAGE' });
  assert.throws(() => parse(proxyPart, ['--machine-cidr', '10.0.0.0/24']), { code: 'USAGE' });
  assert.throws(() => parse(apiPart, ['--proxy-listen', ':80']), { code: 'USAGE' });
  assert.doesNotThrow(() => parse(nodePart, ['--machine-cidr', '10.0.0.0/24', '--proxy-listen', ':80']));
});

test('--nats: a list of URLs, bare host:port accepted, anything else refused by name', () => {
  const settings = readSettings(['agent'], { nats: 'nats://10.0.0.1:4222, 10.0.0.2:4222' }, {});
  assert.deepEqual(settings.nats, ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222']);
  assert.deepEqual(readSettings(['agent'], {}, { NEARBY_NATS: 'nats://a:4222' }).nats, ['nats://a:4222']);
  assert.throws(
    () => readSettings(['agent'], { nats: 'http://a/b' }, {}),
    /--nats: 'http:\/\/a\/b' is not a NATS server URL/,
  );
});

test('on one host the machine subnets default; in a cluster they come from the store unless given', () => {
  const single = readSettings(['agent'], {}, {});
  assert.equal(single.ipv4Cidr, '172.19.0.0/16');
  const clustered = readSettings(['agent'], { nats: 'nats://a:4222' }, {});
  assert.equal(clustered.ipv4Cidr, undefined);
  assert.equal(clustered.ipv6Cidr, undefined);
  assert.equal(
    readSettings(['agent'], { nats: 'nats://a:4222', 'machine-cidr': '10.9.0.0/24' }, {}).ipv4Cidr,
    '10.9.0.0/24',
  );
});

test('bad values are named with what to give instead', () => {
  assert.throws(
    () => readSettings(['agent'], { 'max-machines': '0' }, {}),
    /--max-machines: expected a whole number/,
  );
  assert.throws(
    () => readSettings(['agent'], { region: 'Frankfurt!' }, {}),
    /--region: expected a region code/,
  );
  assert.throws(
    () => readSettings(['proxy'], { 'api-url': 'localhost:4280' }, {}),
    /--api-url: expected a URL/,
  );
  for (const bad of ['30s', '0s', 'often'])
    assert.throws(
      () => readSettings(['agent'], { 'meter-interval': bad }, {}),
      /--meter-interval: expected a duration from 1s to 10s/,
    );
  assert.equal(readSettings(['agent'], { 'meter-interval': '2s' }, {}).meterIntervalMs, 2000);
  assert.equal(readSettings(['agent'], {}, {}).meterIntervalMs, 10_000);
});

test("a proxy sharing an agent's data dir keeps the agent's bridge and subnets in server.json", () => {
  const agent = {
    ...readSettings(['agent'], { nats: 'nats://a:4222', bridge: 'nb7' }, {}),
    ipv4Cidr: '172.20.3.0/24',
    ipv6Cidr: 'fdaa:0:100:3::/64',
  };
  const proxy = readSettings(['proxy'], { nats: 'nats://a:4222' }, {});
  const saved = settingsToSave(['proxy'], proxy, agent);
  assert.deepEqual(
    [saved.bridge, saved.ipv4Cidr, saved.ipv6Cidr, saved.runtime],
    ['nb7', '172.20.3.0/24', 'fdaa:0:100:3::/64', 'auto'],
  );
  assert.equal(saved.proxyListen, proxy.proxyListen);
  // The agent itself saves what it has now; a data dir without an agent's saves the proxy's alone.
  assert.equal(settingsToSave(['agent', 'proxy'], proxy, agent).bridge, 'nearby0');
  assert.equal(settingsToSave(['proxy'], proxy, undefined), proxy);
});
