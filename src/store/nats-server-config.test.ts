/**
 * The configuration `nearby nats config` prints runs a real three-node cluster: with a token,
 * the store works for a client that presents it and refuses one that does not; bad input is
 * refused with what to fix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startNatsCluster } from '../../test/helpers/nats.ts';
import { NearbyError } from '../errors.ts';
import { openStore } from './mod.ts';
import { type NatsServerConfig, renderNatsServerConfig } from './nats/server-config.ts';

test('a cluster from the printed configuration with a token serves the store, and only with the token', async (t) => {
  const token = 'a1b2c3d4e5f6a7b8c9d0e1f2';
  const cluster = await startNatsCluster(t, 3, { token });
  const store = await openStore({ nats: cluster.urls, prefix: 'cfgtest' });
  t.after(() => store.close());
  await store.put('apps/one', { name: 'one' });
  assert.deepEqual((await store.get('apps/one'))?.value, { name: 'one' });

  const withoutToken = cluster.urls.map((url) => url.replace(`${token}@`, ''));
  await assert.rejects(openStore({ nats: withoutToken, prefix: 'cfgtest' }), (error: unknown) => {
    assert.ok(error instanceof NearbyError, String(error));
    assert.match(error.message, /nats|store/i);
    return true;
  });
});

test('bad node names, addresses and tokens are refused with a hint', () => {
  const base = {
    name: 'n1',
    listen: '0.0.0.0:4222',
    clusterListen: '0.0.0.0:6222',
    routes: ['10.0.0.1:6222'],
    storeDir: '/tmp/x',
  };
  const cases: [Partial<NatsServerConfig>, RegExp][] = [
    [{ name: 'n 1' }, /node name/],
    [{ listen: 'nope' }, /client listen address 'nope' is not HOST:PORT/],
    [{ routes: [] }, /no routes/],
    [{ routes: ['10.0.0.1:70000'] }, /route '10\.0\.0\.1:70000'/],
    [{ token: 'short' }, /token must be/],
    [{ token: 'has"quote-and-more-chars' }, /token must be/],
  ];
  for (const [override, message] of cases) {
    assert.throws(
      () => renderNatsServerConfig({ ...base, ...override }),
      (error: unknown) =>
        error instanceof NearbyError && message.test(error.message) && error.hint !== undefined,
    );
  }
});
