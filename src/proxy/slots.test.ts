/** Machines keep their slot; freed slots wait for their requests; pools grow by doubling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteTable, WantedBackend } from './routes.ts';
import { MIN_SLOTS, poolSize, SlotTable, slotIndex } from './slots.ts';

const backend = (machines: string[]): WantedBackend => ({
  app: 'hello',
  name: 'app_hello',
  mode: 'http',
  checks: [],
  forceHttps: false,
  servers: machines.map((name, i) => ({ name, address: `10.0.0.${i + 1}`, port: 8080, options: [] })),
  slotOptions: [],
});
const routes = (machines: string[]): RouteTable => ({
  backends: [backend(machines)],
  frontends: [],
  hosts: new Map(),
  certs: [],
  skipped: [],
});
const slotsOf = (table: RouteTable) =>
  Object.fromEntries(table.backends[0].servers.map((server) => [server.name, server.slot]));

test('pool sizes double from the minimum', () => {
  assert.equal(poolSize(0, 0), MIN_SLOTS);
  assert.equal(poolSize(MIN_SLOTS, MIN_SLOTS), MIN_SLOTS);
  assert.equal(poolSize(MIN_SLOTS, MIN_SLOTS + 1), MIN_SLOTS * 2);
  assert.equal(poolSize(MIN_SLOTS, MIN_SLOTS * 4 + 1), MIN_SLOTS * 8);
  assert.equal(slotIndex('app_hello_5432_tcp.12'), 12);
  assert.equal(slotIndex('nearby_activator'), undefined);
});

test('machines keep their slots; a freed slot is reused only once released', () => {
  const slots = new SlotTable();
  const first = routes(['a', 'b', 'c']);
  slots.assign(first);
  assert.deepEqual(slotsOf(first), { a: 'app_hello.1', b: 'app_hello.2', c: 'app_hello.3' });
  assert.equal(first.backends[0].slots, MIN_SLOTS);

  const second = routes(['a', 'c', 'd']);
  slots.assign(second);
  assert.deepEqual(
    slotsOf(second),
    { a: 'app_hello.1', c: 'app_hello.3', d: 'app_hello.4' },
    'b drains in s2',
  );
  assert.equal(slots.machineOf('app_hello', 'app_hello.2'), 'b');
  assert.equal(slots.isDraining('app_hello', 'app_hello.2'), true);

  slots.release('app_hello', 'app_hello.2');
  const third = routes(['a', 'c', 'd', 'e']);
  slots.assign(third);
  assert.deepEqual(slotsOf(third), {
    a: 'app_hello.1',
    c: 'app_hello.3',
    d: 'app_hello.4',
    e: 'app_hello.2',
  });
  assert.equal(slots.machineOf('app_hello', 'app_hello.2'), 'e');
  // Same routes again: the same answer.
  const again = routes(['a', 'c', 'd', 'e']);
  slots.assign(again);
  assert.deepEqual(slotsOf(again), slotsOf(third));
});

test('a machine back before its slot was released takes it again', () => {
  const slots = new SlotTable();
  slots.assign(routes(['a', 'b']));
  slots.assign(routes(['a']));
  const back = routes(['a', 'b']);
  slots.assign(back);
  assert.deepEqual(slotsOf(back), { a: 'app_hello.1', b: 'app_hello.2' });
  assert.equal(slots.isDraining('app_hello', 'app_hello.2'), false);
});

test('a pool grows by doubling when machines and draining slots do not fit', () => {
  const slots = new SlotTable();
  const many = Array.from({ length: MIN_SLOTS }, (_, i) => `m${i}`);
  slots.assign(routes(many));
  const next = routes([...many.slice(1), 'x', 'y']);
  slots.assign(next);
  assert.equal(next.backends[0].slots, MIN_SLOTS * 2, 'm0 still drains in its slot');
  assert.equal(slotsOf(next).x, `app_hello.${MIN_SLOTS + 1}`);
  slots.releaseAll();
  assert.equal(
    slots.isDraining('app_hello', 'app_hello.1'),
    false,
    'a new worker has no requests on old slots',
  );
});
