/** Egress at the edge: HAProxy's per-app bytes out, into the proxy's own usage record, counted once. */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import type { UsageRecord } from '../billing/meter.ts';
import { EgressCounters, parseEgressTable } from './egress-meter.ts';
import { echoUpstream, freePort, httpService, request, startTestProxy } from './test-proxy.ts';

describe('egress counters', () => {
  it('reads the table, carries a reload over, and counts nothing an earlier nearby already did', () => {
    const table = parseEgressTable(
      '# table: nearby_egress, type: string, size:20480, used:2\n0x55d1: key=web use=0 exp=0 bytes_out_cnt=900\n0x55d2: key=api use=0 exp=0 bytes_out_cnt=10\n',
    );
    assert.deepEqual(
      [...table],
      [
        ['web', 900],
        ['api', 10],
      ],
    );
    const counters = new EgressCounters();
    assert.deepEqual(
      [...counters.update(table)],
      [
        ['web', 0],
        ['api', 0],
      ],
      'the first reading is the baseline',
    );
    assert.equal(
      counters
        .update(
          new Map([
            ['web', 1000],
            ['api', 10],
          ]),
        )
        .get('web'),
      100,
    );
    // A reload: the new worker's table starts at zero; what the old one counted is kept.
    assert.equal(counters.update(new Map([['web', 50]])).get('web'), 150);
    assert.equal(
      counters
        .update(
          new Map([
            ['web', 50],
            ['new', 7],
          ]),
        )
        .get('new'),
      7,
      'an app first seen later counts from 0',
    );
  });
});

test("the edge meters each app's bytes out into its own usage record", async (t) => {
  const { store, proxy, httpPort, putApp, putMachine, defer } = await startTestProxy(t, {
    meterIntervalMs: 1000,
  });
  const internal = await freePort();
  const body = 'x'.repeat(200_000);
  defer(
    (
      await echoUpstream('127.0.0.32', internal, 'm1egress', (_req, res) => {
        res.end(body);
        return true;
      })
    ).close,
  );
  await putApp('egress');
  await putMachine('egress', 'm1egress', '127.0.0.32', { services: [httpService(internal)] });
  await proxy.ready;
  await proxy.synced();
  for (let i = 0; i < 5; i++)
    assert.equal((await request(httpPort, 'egress.apps.test')).body.length, 200_000);
  let record: UsageRecord | undefined;
  for (let i = 0; i < 100 && (record?.egress_bytes.fra ?? 0) < 1_000_000; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [entry] = (await store.list<UsageRecord>('usage/personal/')).filter((e) => e.key.endsWith('/edge'));
    record = entry?.value;
  }
  const sent = record?.egress_bytes.fra ?? 0;
  assert.ok(sent >= 1_000_000 && sent < 1_100_000, `5 × 200 kB and their headers, counted once: ${sent}`);
  assert.deepEqual(record?.machine_seconds, {}, 'the edge record holds egress only');
});
