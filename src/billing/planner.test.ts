import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide } from './planner.ts';

describe('budget planner', () => {
  it('no budget: nothing happens', () =>
    assert.deepEqual(decide(1e6, undefined, []), { level: 'ok', percent: 0, warn: [] }));
  it('warns once per threshold, shrinks at 80, suspends at 100', () => {
    assert.deepEqual(decide(5, { cap_usd: 10 }, []), { level: 'ok', percent: 50, warn: [50] });
    assert.deepEqual(decide(8.5, { cap_usd: 10 }, [50]), { level: 'shrink', percent: 85, warn: [80] });
    assert.deepEqual(decide(12, { cap_usd: 10 }, [50]), {
      level: 'suspended',
      percent: 120,
      warn: [80, 100],
    });
  });
  it('the shrink threshold is configurable, and a raised cap brings the org back', () => {
    assert.equal(decide(6, { cap_usd: 10, shrink_at_percent: 60 }, []).level, 'shrink');
    assert.equal(decide(12, { cap_usd: 100 }, [50, 80, 100]).level, 'ok');
  });
});
