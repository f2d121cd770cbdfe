/** nearby's DNS-01 responder: TXT answers from the store over UDP and TCP, nothing outside its one name. */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { keys } from '../model/keys.ts';
import { openStore } from '../store/mod.ts';
import type { AcmeChallengeRecord } from './challenge-answers.ts';
import { startDnsResponder } from './dns-responder.ts';

function query(name: string, type: number, id = 0x1234): Buffer {
  const labels = name
    .split('.')
    .map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const tail = Buffer.from([0, type >> 8, type & 0xff, 0, 1]);
  return Buffer.concat([header, ...labels, tail]);
}

/** rcode, whether authoritative, and the TXT strings of the answer section. */
function parse(response: Buffer): { rcode: number; aa: boolean; txts: string[] } {
  let offset = 12;
  while (response[offset] !== 0) offset += response[offset] + 1;
  offset += 5;
  const txts: string[] = [];
  for (let i = 0; i < response.readUInt16BE(6); i++) {
    const length = response.readUInt16BE(offset + 10);
    txts.push(response.subarray(offset + 13, offset + 12 + length).toString());
    offset += 12 + length;
  }
  return { rcode: response[3] & 0x0f, aa: (response[2] & 0x04) !== 0, txts };
}

test('answers TXT for _acme-challenge.<domain> from the store, over UDP and TCP', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-dns-'));
  const store = await openStore({ dataDir: dir });
  const dns = await startDnsResponder({
    store,
    domain: 'apps.test',
    host: '127.0.0.1',
    port: 0,
    log: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await dns.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await store.put<AcmeChallengeRecord>(keys.acmeChallenge('tok'), {
    token: 'tok',
    key_authorization: 'tok.thumb',
    hostname: '*.apps.test',
    created_at: '',
    type: 'dns-01',
    dns_name: '_acme-challenge.apps.test',
    txt: 'value-1',
  });
  const udp = createSocket('udp4');
  t.after(() => udp.close());
  const overUdp = (message: Buffer) =>
    new Promise<Buffer>((resolve) => {
      udp.once('message', resolve);
      udp.send(message, dns.port, '127.0.0.1');
    });

  const answer = parse(await overUdp(query('_ACME-challenge.apps.test', 16)));
  assert.deepEqual(answer, { rcode: 0, aa: true, txts: ['value-1'] });
  assert.deepEqual(
    parse(await overUdp(query('_acme-challenge.apps.test', 1))).txts,
    [],
    'no A record: NODATA',
  );
  assert.equal(parse(await overUdp(query('x._acme-challenge.apps.test', 16))).rcode, 3, 'NXDOMAIN below');
  assert.equal(parse(await overUdp(query('www.example.com', 1))).rcode, 5, 'REFUSED elsewhere');

  const overTcp = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(dns.port, '127.0.0.1', () => {
      const message = query('_acme-challenge.apps.test', 16, 7);
      socket.write(Buffer.concat([Buffer.from([0, message.length]), message]));
    });
    let received = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.end();
        resolve(received.subarray(2));
      }
    });
    socket.on('error', reject);
  });
  assert.equal(overTcp.readUInt16BE(0), 7);
  assert.deepEqual(parse(overTcp).txts, ['value-1']);
});
