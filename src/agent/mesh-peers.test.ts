import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostRecord } from '../model/mod.ts';
import { meshPeers } from './mesh-peers.ts';

const host = (name: string, extra: Partial<HostRecord>): HostRecord => ({
  name,
  region: 'iad',
  runtime: 'container',
  memory_mb: 1024,
  cpus: 1,
  heartbeat_at: '2026-12-06T00:00:00Z',
  started_at: '2026-12-06T00:00:00Z',
  ...extra,
});

test('peers are the other meshed hosts, allowed their mesh address and machine subnets only', () => {
  const hosts = [
    host('iad-1', {
      wireguard_public_key: 'K1',
      mesh_endpoint: '10.0.0.1:51820',
      mesh_address: 'fdaa:ff::1',
    }),
    host('fra-1', {
      wireguard_public_key: 'K2',
      mesh_endpoint: '10.0.0.2:51820',
      mesh_address: 'fdaa:ff::2',
      subnet4: '172.20.1.0/24',
      subnet6: 'fdaa:0:1::/64',
    }),
    host('old-1', { address: '10.0.0.3' }),
  ];
  assert.deepEqual(meshPeers('iad-1', hosts), [
    {
      publicKey: 'K2',
      endpoint: '10.0.0.2:51820',
      allowedIps: ['fdaa:ff::2/128', 'fdaa:0:1::/64', '172.20.1.0/24'],
    },
  ]);
  assert.deepEqual(meshPeers('iad-1', hosts.slice(0, 1)), []);
});
