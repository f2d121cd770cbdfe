import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineRecord, MachineStatus } from './machine.ts';
import { machineView } from './machine-view.ts';

const record: MachineRecord = {
  id: 'aaaaaaaaaaaaaa',
  name: 'web',
  app: 'demo',
  region: 'fra',
  host: 'h1',
  instance_id: 'V1',
  config: { image: 'x' },
  image_ref: { registry: 'r', repository: 'x', tag: '1', digest: 'sha256:0' },
  desired: { state: 'started', seq: 1 },
  events: [],
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};
const status = (state: MachineStatus['state']): MachineStatus => ({
  id: record.id,
  app: 'demo',
  instance_id: 'V1',
  state,
  seq: 1,
  restarts: 0,
  events: [],
  updated_at: '2026-01-01T00:00:00.000Z',
});
const at = (iso: string) => Date.parse(iso);

test('a machine stuck in a transient state is reported as such, not hidden', () => {
  const fresh = machineView(record, status('starting'), undefined, at('2026-01-01T00:00:30Z'));
  assert.equal(fresh.state, 'starting');
  assert.equal(fresh.nearby.stuck, undefined);
  const stuck = machineView(record, status('starting'), undefined, at('2026-01-01T00:10:00Z'));
  assert.equal(stuck.state, 'starting');
  assert.deepEqual(stuck.nearby.stuck, { state: 'starting', since: '2026-01-01T00:00:00.000Z' });
  assert.match(stuck.nearby.error ?? '', /stuck in 'starting'/);
  const started = machineView(record, status('started'), undefined, at('2026-01-02T00:00:00Z'));
  assert.equal(started.nearby.stuck, undefined, 'a steady state is never stuck');
});

test('a machine whose host stopped reporting says so; cordoned shows', () => {
  const view = machineView({ ...record, cordoned: true }, status('started'), { reachable: false });
  assert.equal(view.host_status, 'unreachable');
  assert.equal(view.cordoned, true);
  assert.match(view.nearby.error ?? '', /host h1/);
});
