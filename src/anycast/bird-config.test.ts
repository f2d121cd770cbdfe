/** The bird2 configurations nearby writes parse with bird itself (`bird -p`), and bad input is refused. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { isNearbyError } from '../errors.ts';
import { renderAnnouncerConfig, renderIspConfig } from './bird-config.ts';

async function birdParses(text: string) {
  const dir = await mkdtemp(join(tmpdir(), 'bird-'));
  try {
    await writeFile(join(dir, 'bird.conf'), text);
    await promisify(execFile)('bird', ['-p', '-c', join(dir, 'bird.conf')]);
  } finally {
    await rm(dir, { recursive: true });
  }
}

test('the announcer and ISP configurations parse with bird', async () => {
  const announcer = renderAnnouncerConfig({
    routerId: '10.77.1.10',
    address: '198.18.77.1',
    localAs: 65000,
    peers: [{ address: '10.77.0.0/16' }, { address: '10.77.9.1', as: 65100 }],
  });
  assert.match(announcer, /route 198\.18\.77\.1\/32 blackhole/);
  assert.match(announcer, /neighbor range 10\.77\.0\.0\/16 external/);
  await birdParses(announcer);
  const isp = renderIspConfig({
    routerId: '10.77.3.100',
    localAs: 65100,
    peers: [
      { name: 'iad_1', address: '10.77.1.10', as: 65000, rttMs: 18, realm: 1 },
      { name: 'fra_1', address: '10.77.2.10', as: 65000, rttMs: 97, realm: 2 },
    ],
  });
  assert.match(isp, /iad_1 .*bgp_local_pref = 9982;/);
  assert.match(isp, /fra_1 .*bgp_local_pref = 9903;/);
  await birdParses(isp);
});

test('bad input is refused with ANYCAST_INVALID', () => {
  const base = {
    routerId: '10.0.0.1',
    address: '198.18.0.1',
    localAs: 65000,
    peers: [{ address: '10.0.0.2' }],
  };
  for (const change of [
    { address: 'x' },
    { localAs: 0 },
    { peers: [] },
    { peers: [{ address: '10.0.0.0/40' }] },
  ])
    assert.throws(
      () => renderAnnouncerConfig({ ...base, ...change }),
      (error) => isNearbyError(error, 'ANYCAST_INVALID'),
    );
});
