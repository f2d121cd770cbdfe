import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineStatus } from '../model/mod.ts';
import { meshOrgs } from './mesh-orgs.ts';
import { meshAddress } from './mesh-start.ts';

const status = (app: string, ipv6: string, ipv4: string, state = 'started'): MachineStatus =>
  ({ id: ipv6, app, state, private_ip: ipv6, ipv4 }) as MachineStatus;

test("machines are sorted by org, here or remote by their status's host; destroyed and orgless ones left out", () => {
  const statuses = new Map<string, MachineStatus>([
    ['machine-status/iad-1/a', status('web', 'fdaa:0:100:1::2', '172.20.1.2')],
    ['machine-status/fra-1/b', status('web', 'fdaa:0:100:2::2', '172.20.2.2')],
    ['machine-status/fra-1/c', status('other', 'fdaa:0:100:2::3', '172.20.2.3')],
    ['machine-status/fra-1/d', status('web', 'fdaa:0:100:2::4', '172.20.2.4', 'destroyed')],
    ['machine-status/fra-1/e', status('gone', 'fdaa:0:100:2::5', '172.20.2.5')],
  ]);
  const orgs = meshOrgs('iad-1', statuses, (app) => ({ web: 'x', other: 'y' })[app]);
  assert.deepEqual(Object.fromEntries(orgs), {
    x: {
      local6: ['fdaa:0:100:1::2'],
      local4: ['172.20.1.2'],
      remote6: ['fdaa:0:100:2::2'],
      remote4: ['172.20.2.2'],
    },
    y: { local6: [], local4: [], remote6: ['fdaa:0:100:2::3'], remote4: ['172.20.2.3'] },
  });
});

test("a host's mesh address is its IPv4 in fdaa:0:ff::/64", () => {
  assert.equal(meshAddress('10.123.1.2:51820'), 'fdaa:0:ff::a7b:102');
  assert.equal(meshAddress('[2001:db8::7]:51820'), 'fdaa:0:ff::db8:7');
});
