import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { eventually } from '../../test/helpers/nearby.ts';
import { placementStore } from '../../test/helpers/placement-store.ts';
import type { ControlPlane } from '../api/machines.ts';
import {
  type AppEvent,
  type AutoscaleDecisionsRecord,
  type DemandRecord,
  keys,
  type MachineRecord,
  type ReleaseRecord,
  subjects,
} from '../model/mod.ts';
import type { ImageService } from '../oci/types.ts';
import type { Store } from '../store/types.ts';
import { runAutoscaler } from './loop.ts';

const imageRef = { registry: 'registry.test', repository: 'shop', tag: '1', digest: 'sha256:0' };
const config = { image: 'registry.test/shop:1', env: { PRIMARY_REGION: 'iad' } };

/** An app deployed in iad with [autoscale], and syd's proxy sending all its requests to iad at 200 ms. */
async function seed(store: Store, host: (name: string, region: string) => Promise<void>, cooldown = 60_000) {
  await host('iad-1', 'iad');
  await host('syd-1', 'syd');
  const now = new Date().toISOString();
  await store.put(keys.app('shop'), {
    id: 'a1',
    name: 'shop',
    org_slug: 'personal',
    network: 'n',
    created_at: now,
  });
  const release: ReleaseRecord = {
    app: 'shop',
    version: 1,
    image: config.image,
    image_ref: imageRef,
    strategy: 'rolling',
    configs: { app: config },
    autoscale: {
      min_machines: 1,
      max_machines: 2,
      regions: ['iad', 'syd'],
      target_concurrency: 10,
      scale_up_step: 1,
      scale_down_step: 1,
      cooldown,
    },
    status: 'complete',
    user: 'admin',
    created_at: now,
    updated_at: now,
  };
  await store.put(keys.release('shop', 1), release);
  const machine = {
    id: 'm-iad',
    name: 'm-iad',
    app: 'shop',
    region: 'iad',
    host: 'iad-1',
    instance_id: 'i1',
    config,
    image_ref: imageRef,
    desired: { state: 'started', seq: 1, reason: 'deploy' },
    events: [],
    created_at: new Date(Date.now() - 3_600_000).toISOString(),
    updated_at: now,
  } as MachineRecord;
  await store.put(keys.machine('shop', machine.id), machine);
  await store.put(keys.machineStatus('iad-1', machine.id), {
    id: machine.id,
    instance_id: 'i1',
    state: 'started',
    seq: 1,
  });
  await store.put(keys.proxy('iad-1'), { host: 'iad-1', region: 'iad', rtt_ms: { 'syd-1': 200 } });
  await store.put(keys.proxy('syd-1'), { host: 'syd-1', region: 'syd', rtt_ms: { 'iad-1': 200 } });
  const demand: DemandRecord = {
    app: 'shop',
    host: 'syd-1',
    region: 'syd',
    at: now,
    interval_ms: 2_000,
    served: { iad: { requests: 10, concurrency: 1, rtt_ms: 200 } },
  };
  await store.put(keys.demand('shop', 'syd-1'), demand);
}

function start(store: Store, mayGrow?: () => Promise<boolean>) {
  const images = { resolve: async () => ({ ref: imageRef }) } as unknown as ImageService;
  const cp: ControlPlane = { store, images, defaultRegion: 'iad' };
  const controller = new AbortController();
  const done = runAutoscaler({
    cp,
    holder: 'test',
    log: pino({ level: 'silent' }),
    signal: controller.signal,
    intervalMs: 100,
    ...(mayGrow ? { mayGrow } : {}),
  });
  return async () => {
    controller.abort();
    await done;
  };
}

const decisions = async (store: Store) =>
  (await store.get<AutoscaleDecisionsRecord>(keys.autoscaleDecisions('shop')))?.value.decisions ?? [];

test('demand served far from syd: a copy of the newest machine is created in syd, the decision kept and told', async (t) => {
  const { store, host } = await placementStore(t);
  await seed(store, host);
  const stop = start(store);
  try {
    const added = await eventually(async () => {
      const machines = (await store.list<MachineRecord>(keys.machines('shop'))).map((entry) => entry.value);
      return machines.find((machine) => machine.region === 'syd');
    }, 10_000);
    assert.equal(added.host, 'syd-1');
    assert.deepEqual(added.config.env, config.env, 'the same config as the machine copied');
    const [decision] = await eventually(async () =>
      (await decisions(store)).length > 0 ? decisions(store) : undefined,
    );
    assert.equal(decision.action, 'add');
    assert.deepEqual(decision.machines, [added.id]);
    assert.equal(decision.figures.far_rtt_ms, 200);
    const events: AppEvent[] = [];
    // The event is appended after the decision is kept.
    await eventually(async () => {
      events.length = 0;
      for await (const message of store.read<AppEvent>(subjects.appEvents('shop'))) events.push(message.data);
      return events.length > 0 ? true : undefined;
    });
    assert.match(
      events[0]?.message ?? '',
      /^1 machine added in syd: 100% of syd's requests were served in iad at 200 ms/,
    );
    assert.equal(events[0]?.source, 'autoscale');
  } finally {
    await stop();
  }
});

test('the spending cap says no: a hold, told once, and no machine', async (t) => {
  const { store, host } = await placementStore(t);
  await seed(store, host);
  const stop = start(store, async () => false);
  try {
    const [hold] = await eventually(async () =>
      (await decisions(store)).length > 0 ? decisions(store) : undefined,
    );
    assert.equal(hold.action, 'hold');
    assert.equal(hold.blocked_by, 'spending_cap');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await decisions(store)).length, 1, 'a hold is told once');
    const machines = await store.list<MachineRecord>(keys.machines('shop'));
    assert.equal(machines.length, 1);
  } finally {
    await stop();
  }
});

test('a machine idle for the cooldown outside the primary region is stopped, then destroyed', async (t) => {
  const { store, host } = await placementStore(t);
  await seed(store, host, 1_000);
  await store.delete(keys.demand('shop', 'syd-1'));
  const old = new Date(Date.now() - 3_600_000).toISOString();
  const syd = {
    ...(await store.get<MachineRecord>(keys.machine('shop', 'm-iad')))?.value,
    id: 'm-syd',
    region: 'syd',
    host: 'syd-1',
    created_at: old,
  } as MachineRecord;
  await store.put(keys.machine('shop', 'm-syd'), syd);
  await store.put(keys.machineStatus('syd-1', 'm-syd'), {
    id: 'm-syd',
    instance_id: 'i1',
    state: 'started',
    seq: 1,
  });
  const stop = start(store);
  try {
    // As its agent would: the stop asked for is carried out.
    await eventually(async () => {
      const record = (await store.get<MachineRecord>(keys.machine('shop', 'm-syd')))?.value;
      return record?.desired.state === 'stopped' ? record : undefined;
    }, 10_000);
    await store.put(keys.machineStatus('syd-1', 'm-syd'), {
      id: 'm-syd',
      instance_id: 'i1',
      state: 'stopped',
      seq: 2,
    });
    await eventually(async () => {
      const record = (await store.get<MachineRecord>(keys.machine('shop', 'm-syd')))?.value;
      return record?.desired.state === 'destroyed' ? true : undefined;
    }, 10_000);
    const [removed] = await decisions(store);
    assert.equal(removed.action, 'remove');
    assert.deepEqual(removed.machines, ['m-syd']);
    assert.match(removed.reason, /^syd's machines served nothing for \d+ s \(cooldown 1 s\)/);
    const iad = (await store.get<MachineRecord>(keys.machine('shop', 'm-iad')))?.value;
    assert.equal(iad?.desired.state, 'started', 'the primary region keeps its machine');
  } finally {
    await stop();
  }
});
