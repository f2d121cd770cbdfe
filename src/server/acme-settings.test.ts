/** `nearby server`'s ACME flags: the challenge follows the proxy's ports unless given; bad values are refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serverSettings } from './settings.ts';

test('the ACME challenge is the one the proxy ports can answer, unless --acme-challenge says', () => {
  const settings = (values: Record<string, string>) => serverSettings(values, {});
  assert.equal(settings({}).acmeChallenge, 'http-01');
  assert.equal(settings({ 'proxy-listen': ':80', 'proxy-tls-listen': ':443' }).acmeChallenge, 'http-01');
  assert.equal(settings({ 'proxy-tls-listen': '0.0.0.0:443' }).acmeChallenge, 'tls-alpn-01');
  assert.equal(settings({ 'acme-challenge': 'tls-alpn-01' }).acmeChallenge, 'tls-alpn-01');
  assert.equal(serverSettings({}, { NEARBY_ACME_CHALLENGE: 'tls-alpn-01' }).acmeChallenge, 'tls-alpn-01');
  assert.throws(
    () => settings({ 'acme-challenge': 'dns-01' }),
    /expected http-01 or tls-alpn-01, got 'dns-01'/,
  );

  assert.equal(settings({}).acmeDnsListen, '', 'no DNS-01 responder unless asked: the local CA');
  assert.equal(settings({ 'acme-dns-listen': '[::]:53' }).acmeDnsListen, '[::]:53');
  assert.throws(
    () => settings({ 'acme-dns-listen': 'localhost' }),
    /expected HOST:PORT such as 0\.0\.0\.0:53/,
  );
});
