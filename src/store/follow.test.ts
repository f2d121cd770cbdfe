import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { flakyStore } from '../../test/helpers/flaky-store.ts';
import { follow } from './follow.ts';
import { SqliteStore } from './sqlite.ts';
import type { WatchEvent } from './types.ts';

const describe = (event: WatchEvent) => (event.type === 'synced' ? 'synced' : `${event.type} ${event.key}`);

async function setUp(t: { after(fn: () => unknown): void }, changeLogSize?: number) {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-follow-'));
  const inner = new SqliteStore(join(dir, 'state.db'), changeLogSize ? { changeLogSize } : {});
  const store = flakyStore(inner);
  const controller = new AbortController();
  const lines: string[] = [];
  const log = {
    warn: (_: object, m: string) => lines.push(`warn ${m}`),
    info: (_: object, m: string) => lines.push(`info ${m}`),
  };
  const events: string[] = [];
  let notify = () => {};
  let done: Promise<void> = Promise.resolve();
  const start = () => {
    done = (async () => {
      for await (const event of follow(store, 'jobs/', {
        signal: controller.signal,
        log,
        what: 'test loop',
      })) {
        events.push(describe(event));
        notify();
      }
    })();
  };
  const waitFor = async (count: number) => {
    while (events.length < count) await new Promise<void>((resolve) => (notify = resolve));
    return events;
  };
  t.after(async () => {
    controller.abort();
    await done;
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { inner, store, events, waitFor, lines, start };
}

test('follow: after the store comes back it resumes where it was, losing and repeating nothing', async (t) => {
  const { inner, store, waitFor, events, lines, start } = await setUp(t);
  await inner.put('jobs/1', 1);
  start();
  await waitFor(2);
  store.cut();
  // Another writer still reaches the store: these land while this loop's watch is gone.
  await inner.put('jobs/2', 2);
  await inner.delete('jobs/1');
  assert.equal(store.watchesOpened, 1);
  store.restore();
  await inner.put('jobs/3', 3);
  await waitFor(5);
  assert.deepEqual(events, ['put jobs/1', 'synced', 'put jobs/2', 'delete jobs/1', 'put jobs/3']);
  assert.ok(store.watchesOpened >= 2);
  assert.deepEqual(lines, [
    'warn test loop lost the store; keeps going on what it knows and will retry',
    'info test loop has the store back',
  ]);
});

test('follow: when the store no longer keeps that far back, a fresh snapshot turns vanished keys into deletes', async (t) => {
  const { inner, store, waitFor, events, start } = await setUp(t, 2);
  await inner.put('jobs/1', 1);
  await inner.put('jobs/2', 2);
  start();
  await waitFor(3);
  store.cut();
  await inner.delete('jobs/1');
  // The log is trimmed every 1,000 writes: these push jobs/1's delete out of it.
  for (let i = 0; i < 1000; i++) await inner.put('other/x', i);
  await inner.put('jobs/3', 3);
  store.restore();
  await waitFor(6);
  assert.deepEqual(events.slice(0, 3), ['put jobs/1', 'put jobs/2', 'synced']);
  // The snapshot repeats jobs/2 (level-triggered consumers take a value again), never `synced`.
  assert.deepEqual(events.slice(3).sort(), ['delete jobs/1', 'put jobs/2', 'put jobs/3']);
});
