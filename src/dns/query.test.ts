import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import type { AppRecord, MachineStatus } from '../model/mod.ts';
import { buildDirectory } from './directory.ts';
import { handleQuery } from './query.ts';

const directory = buildDirectory({
  host: 'h1',
  region: 'fra',
  apps: [{ name: 'web', org_slug: 'acme' } as AppRecord],
  hosts: [],
  statuses: [
    {
      host: 'h1',
      status: {
        id: 'm1',
        app: 'web',
        state: 'started',
        ipv4: '10.0.0.2',
        private_ip: 'fdaa::2',
      } as MachineStatus,
    },
  ],
});
const ask = (bytes: Buffer, peer = '10.0.0.2') => handleQuery(bytes, peer, 'udp', { directory });
const query = (name: string, extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({
    type: 'query',
    id: 77,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'AAAA' }],
    ...extra,
  });

test('a machine gets its answer with its id, RD kept, AA and RA set', () => {
  const outcome = ask(query('web.internal'));
  assert.ok(outcome && 'reply' in outcome);
  const reply = dnsPacket.decode(outcome.reply);
  assert.equal(reply.id, 77);
  assert.deepEqual([reply.flag_aa, reply.flag_rd, reply.flag_ra], [true, true, true]);
  assert.equal(reply.answers?.length, 1);
});

test('other names are to be forwarded; strangers are refused; broken queries get FORMERR or nothing', () => {
  assert.deepEqual(ask(query('example.com')), { forward: true, name: 'example.com' });
  assert.equal((ask(query('example.com'), '10.0.0.99') as { rcode: string }).rcode, 'REFUSED');
  assert.equal((ask(query('web.internal', { questions: [] })) as { rcode: string }).rcode, 'FORMERR');
  assert.equal((ask(Buffer.from('0123456789abcdef')) as { rcode: string }).rcode, 'FORMERR');
  assert.equal(ask(Buffer.from('short')), undefined);
  const notify = query('web.internal');
  notify[2] |= 4 << 3; // opcode NOTIFY
  assert.equal((ask(notify) as { rcode: string }).rcode, 'NOTIMP');
});
