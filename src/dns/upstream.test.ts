import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { BIG_TXT_STRINGS, startTestUpstream } from '../../test/helpers/dns-upstream.ts';
import { isNearbyError } from '../errors.ts';
import { forwardQuery, parseUpstreams, systemUpstreams } from './upstream.ts';

const query = (name: string, type: 'A' | 'TXT', id = 4242) =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });

test('forwards over UDP with the query id kept, and over TCP when the UDP answer is truncated', async (t) => {
  const upstream = await startTestUpstream({ 'example.test': '192.0.2.7' });
  t.after(() => upstream.close());
  const upstreams = [{ host: '127.0.0.1', port: upstream.port }];
  const small = dnsPacket.decode(await forwardQuery(query('example.test', 'A'), upstreams, 'udp'));
  assert.equal(small.id, 4242);
  assert.deepEqual(
    small.answers?.map((a) => (a as { data: string }).data),
    ['192.0.2.7'],
  );
  const big = dnsPacket.decode(await forwardQuery(query('big.example.test', 'TXT', 7), upstreams, 'udp'));
  assert.equal(big.id, 7);
  assert.equal(big.flag_tc, false);
  assert.equal(big.answers?.length, BIG_TXT_STRINGS);
  assert.deepEqual(
    upstream.asked.map((q) => q.transport),
    ['udp', 'udp', 'tcp'],
  );
});

test('a dead upstream is skipped for the next; none answering is DNS_UPSTREAM_FAILED', async (t) => {
  const upstream = await startTestUpstream({ 'example.test': '192.0.2.7' });
  t.after(() => upstream.close());
  const dead = { host: '127.0.0.1', port: 9 };
  const reply = await forwardQuery(
    query('example.test', 'A'),
    [dead, { host: '127.0.0.1', port: upstream.port }],
    'udp',
    {
      timeoutMs: 300,
    },
  );
  assert.equal(dnsPacket.decode(reply).answers?.length, 1);
  await assert.rejects(forwardQuery(query('example.test', 'A'), [dead], 'udp', { timeoutMs: 300 }), (error) =>
    isNearbyError(error, 'DNS_UPSTREAM_FAILED'),
  );
});

test('upstreams from --dns-upstream and from resolv.conf', () => {
  assert.deepEqual(parseUpstreams('9.9.9.9, 127.0.0.1:5353,[2620:fe::fe]:54,2620:fe::9'), [
    { host: '9.9.9.9', port: 53 },
    { host: '127.0.0.1', port: 5353 },
    { host: '2620:fe::fe', port: 54 },
    { host: '2620:fe::9', port: 53 },
  ]);
  for (const bad of ['', 'dns.example', '1.2.3.4:99999', '[::1'])
    assert.throws(
      () => parseUpstreams(bad),
      (error) => isNearbyError(error, 'DNS_UPSTREAM_INVALID'),
      bad,
    );
  const file = join(mkdtempSync(join(tmpdir(), 'nearby-dns-')), 'resolv.conf');
  writeFileSync(
    file,
    '# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nsearch x\n',
  );
  assert.deepEqual(systemUpstreams(file, ['10.0.0.1']), [
    { host: '127.0.0.53', port: 53 },
    { host: 'fe80::1%eth0', port: 53 },
  ]);
});
