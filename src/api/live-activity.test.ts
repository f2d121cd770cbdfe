import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineActivityRecord } from '../model/mod.ts';
import { appActivity } from './live-activity.ts';

const record = (
  host: string,
  region: string,
  fields: Partial<MachineActivityRecord>,
): MachineActivityRecord => ({
  host,
  region,
  updated_at: '2026-12-06T03:00:00.000Z',
  machines: {},
  ...fields,
});

test("an app's activity: its machines only, and the newest request served elsewhere per region", () => {
  const activity = appActivity(
    [
      record('fra-1', 'fra', {
        machines: {
          m1: { last_active_at: '2026-12-06T02:59:59.000Z', sessions: 3 },
          other: { last_active_at: '2026-12-06T02:59:00.000Z', sessions: 9 },
        },
        served_elsewhere: { web: '2026-12-06T02:58:00.000Z', shop: '2026-12-06T02:59:30.000Z' },
      }),
      record('fra-2', 'fra', { served_elsewhere: { web: '2026-12-06T02:59:00.000Z' } }),
      record('syd-1', 'syd', {
        machines: { m2: { last_active_at: '2026-12-06T02:50:00.000Z', sessions: 0 } },
      }),
    ],
    'web',
    new Set(['m1', 'm2']),
  );
  assert.deepEqual(activity, {
    machines: {
      m1: {
        last_active_at: '2026-12-06T02:59:59.000Z',
        sessions: 3,
        region: 'fra',
        updated_at: '2026-12-06T03:00:00.000Z',
      },
      m2: {
        last_active_at: '2026-12-06T02:50:00.000Z',
        sessions: 0,
        region: 'syd',
        updated_at: '2026-12-06T03:00:00.000Z',
      },
    },
    served_elsewhere: { fra: '2026-12-06T02:59:00.000Z' },
  });
});
