import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { DEFAULT_PRICES, egressUsdPerGb, parsePrices } from './prices.ts';

describe('price list', () => {
  it('the defaults are valid and egress is priced by region group', () => {
    assert.deepEqual(parsePrices(structuredClone(DEFAULT_PRICES)), DEFAULT_PRICES);
    assert.equal(egressUsdPerGb(DEFAULT_PRICES, 'iad'), 0.02);
    assert.equal(egressUsdPerGb(DEFAULT_PRICES, 'bom'), 0.12);
    assert.equal(egressUsdPerGb(DEFAULT_PRICES, 'xyz'), 0.02);
  });
  it('a bad field is BILLING_PRICES_INVALID naming it', () => {
    const bad = { ...structuredClone(DEFAULT_PRICES), volume_usd_gb_month: -1 };
    assert.throws(
      () => parsePrices(bad),
      (error) => isNearbyError(error, 'BILLING_PRICES_INVALID') && /volume_usd_gb_month/.test(error.message),
    );
    const group = { ...structuredClone(DEFAULT_PRICES), regions: { iad: 'mars' } };
    assert.throws(
      () => parsePrices(group),
      (error) => isNearbyError(error, 'BILLING_PRICES_INVALID') && /mars/.test(error.message),
    );
  });
});
