/**
 * The resolver as the agent runs it, on loopback: fed by a SQLite store through watches, asked
 * over UDP and TCP from a "machine" whose address is 127.0.0.1, and from an address no machine has.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';
import pino from 'pino';
import { startTestUpstream } from '../../test/helpers/dns-upstream.ts';
import { freePort } from '../../test/helpers/registry.ts';
import { type AppRecord, type HostRecord, keys, type MachineStatus } from '../model/mod.ts';
import { SqliteStore } from '../store/mod.ts';
import { startMachineResolver } from './mod.ts';

const status = (id: string, app: string, state: MachineStatus['state'], ipv4: string, ipv6: string) =>
  ({
    id,
    app,
    state,
    ipv4,
    private_ip: ipv6,
    instance_id: 'v1',
    seq: 1,
    restarts: 0,
    events: [],
    updated_at: '',
  }) as MachineStatus;

function askUdp(port: number, name: string, type: RecordType, from = '127.0.0.1') {
  return new Promise<DecodedPacket>((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer for ${name}`));
    }, 3_000);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(dnsPacket.decode(message));
    });
    socket.bind(0, from, () =>
      socket.send(dnsPacket.encode({ type: 'query', id: 9, questions: [{ name, type }] }), port, '127.0.0.1'),
    );
  });
}

function askTcp(port: number, name: string, type: RecordType) {
  return new Promise<DecodedPacket>((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.destroy();
        resolve(dnsPacket.decode(received.subarray(2)));
      }
    });
    socket.connect(port, '127.0.0.1', () =>
      socket.write(dnsPacket.streamEncode({ type: 'query', id: 3, questions: [{ name, type }] })),
    );
  });
}

const rcode = (packet: DecodedPacket) => (packet as DecodedPacket & { rcode: string }).rcode;
const data = (packet: DecodedPacket) =>
  (packet.answers ?? []).map((answer) => String((answer as { data: unknown }).data));

test('answers from the store as it changes, forwards the rest, refuses strangers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-dns-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  const controller = new AbortController();
  const upstream = await startTestUpstream({ 'example.test': '192.0.2.9' });
  t.after(async () => {
    controller.abort();
    upstream.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const now = new Date().toISOString();
  await store.put(keys.app('web'), { name: 'web', org_slug: 'acme' } as AppRecord);
  await store.put(keys.app('secret'), { name: 'secret', org_slug: 'rival' } as AppRecord);
  await store.put(keys.host('h1'), { name: 'h1', region: 'fra', heartbeat_at: now } as HostRecord);
  await store.put(
    keys.machineStatus('h1', 'asker'),
    status('asker', 'web', 'started', '127.0.0.1', 'fdaa::2'),
  );
  await store.put(
    keys.machineStatus('h1', 'rival1'),
    status('rival1', 'secret', 'started', '10.9.0.3', 'fdaa::3'),
  );
  const port = await freePort();
  await startMachineResolver({
    store,
    host: 'h1',
    region: 'fra',
    listen: ['127.0.0.1'],
    port,
    upstreams: [{ host: '127.0.0.1', port: upstream.port }],
    signal: controller.signal,
    log: pino({ level: 'silent' }),
  });

  assert.deepEqual(data(await askUdp(port, 'web.internal', 'AAAA')), ['fdaa::2']);
  assert.deepEqual(data(await askTcp(port, 'web.internal', 'AAAA')), ['fdaa::2']);
  assert.equal(rcode(await askUdp(port, 'secret.internal', 'AAAA')), 'NXDOMAIN');
  assert.deepEqual(data(await askUdp(port, 'example.test', 'A')), ['192.0.2.9']);
  assert.equal(rcode(await askUdp(port, 'web.internal', 'AAAA', '127.0.0.2')), 'REFUSED');

  // A machine that starts shows up; with many, the UDP answer is cut (TC) and TCP carries it all.
  await store.put(keys.machineStatus('h1', 'm2'), status('m2', 'web', 'started', '10.9.0.4', 'fdaa::4'));
  for (let n = 0; n < 40; n++)
    await store.put(
      keys.machineStatus('h1', `many${n}`),
      status(`many${n}`, 'web', 'started', `10.9.1.${n}`, `fdaa::1:${n}`),
    );
  let answer = await askUdp(port, 'web.internal', 'AAAA');
  for (let tries = 0; !answer.flag_tc && tries < 50; tries++) {
    await delay(100);
    answer = await askUdp(port, 'web.internal', 'AAAA');
  }
  assert.equal(answer.flag_tc, true);
  assert.equal((await askTcp(port, 'web.internal', 'AAAA')).answers?.length, 42);
  assert.deepEqual(data(await askUdp(port, 'm2.vm.web.internal', 'AAAA')), ['fdaa::4']);
});
