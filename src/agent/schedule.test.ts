import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextScheduledRun } from './schedule.ts';

test('a scheduled machine runs again one period after its last start', () => {
  const start = Date.parse('2026-01-31T10:00:00Z');
  assert.equal(new Date(nextScheduledRun('hourly', start)).toISOString(), '2026-01-31T11:00:00.000Z');
  assert.equal(new Date(nextScheduledRun('daily', start)).toISOString(), '2026-02-01T10:00:00.000Z');
  assert.equal(new Date(nextScheduledRun('weekly', start)).toISOString(), '2026-02-07T10:00:00.000Z');
  assert.equal(new Date(nextScheduledRun('monthly', start)).toISOString(), '2026-03-02T10:00:00.000Z');
});
