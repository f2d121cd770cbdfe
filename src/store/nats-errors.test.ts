import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storeErrorOf } from './nats/connection.ts';

test("JetStream's 'temporarily unavailable' is an unavailable store (retried at start), other refusals are failures", () => {
  const servers = ['nats://10.0.0.1:4222'];
  // What @nats-io/jetstream throws while a young cluster has no meta leader yet (err_code 10008).
  const young = storeErrorOf(
    'get nearby-open-probe',
    new Error('JetStream system temporarily unavailable'),
    servers,
    5000,
  );
  assert.equal(young.code, 'STORE_UNAVAILABLE');
  assert.equal(young.status, 503);
  const refused = storeErrorOf('put x', new Error('maximum messages exceeded'), servers, 5000);
  assert.equal(refused.code, 'STORE_FAILED');
  assert.match(refused.message, /the store refused put x: maximum messages exceeded/);
});
