import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import pino from 'pino';
import { freePort } from '../../test/helpers/registry.ts';
import { isNearbyError } from '../errors.ts';
import { listenDns } from './listeners.ts';

test('a port another server holds is DNS_LISTEN_FAILED with a hint, and nothing stays bound', async (t) => {
  const port = await freePort();
  const holder = createSocket('udp4');
  await new Promise<void>((resolve) => holder.bind(port, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const controller = new AbortController();
  t.after(() => controller.abort());
  await assert.rejects(
    listenDns(['127.0.0.1'], port, async () => undefined, controller.signal, pino({ level: 'silent' })),
    (error) => isNearbyError(error, 'DNS_LISTEN_FAILED') && /--dns-upstream off/.test(error.hint ?? ''),
  );
});
