/**
 * This host's machine subnets in a cluster: one IPv4 /24 and one IPv6 /64 out of the cluster's
 * pools, claimed in the store by compare-and-set (`subnets/<family>/<subnet>` created with revision
 * 0), so two hosts never get the same one. A host finds its own claim again on every start.
 */
import { isNearbyError, NearbyError } from '../errors.ts';
import { keys, type SubnetClaim } from '../model/mod.ts';
import { ipv4Pool, ipv6Pool, type SubnetPool } from '../net/subnet-pool.ts';
import type { Store } from '../store/mod.ts';

export interface HostSubnets {
  ipv4Cidr: string;
  ipv6Cidr: string;
}

/** @throws NearbyError SUBNETS_EXHAUSTED when every subnet of a pool is someone else's. */
export async function claimHostSubnets(
  store: Store,
  host: string,
  pools: { ipv4: string; ipv6: string },
): Promise<HostSubnets> {
  return {
    ipv4Cidr: await claim(store, host, 'ipv4', pools.ipv4, ipv4Pool(pools.ipv4)),
    ipv6Cidr: await claim(store, host, 'ipv6', pools.ipv6, ipv6Pool(pools.ipv6)),
  };
}

async function claim(
  store: Store,
  host: string,
  family: 'ipv4' | 'ipv6',
  poolText: string,
  pool: SubnetPool,
): Promise<string> {
  const claims = await store.list<SubnetClaim>(keys.subnets(family));
  const mine = claims.find((entry) => entry.value.host === host);
  if (mine) return mine.value.subnet;
  const taken = new Set(claims.map((entry) => entry.value.subnet));
  for (let index = 0; index < pool.count; index++) {
    const subnet = pool.nth(index);
    if (taken.has(subnet)) continue;
    const record: SubnetClaim = { host, subnet, claimed_at: new Date().toISOString() };
    try {
      await store.put(keys.subnet(family, subnet), record, { expectRevision: 0 });
      return subnet;
    } catch (error) {
      if (!isNearbyError(error, 'STORE_CONFLICT')) throw error;
      // Another host took it between our list and our create (or we did, and a timeout hid it).
      const current = await store.get<SubnetClaim>(keys.subnet(family, subnet));
      if (current?.value.host === host) return subnet;
    }
  }
  throw new NearbyError(
    'SUBNETS_EXHAUSTED',
    `every ${family} subnet of the pool ${poolText} belongs to another host`,
    {
      hint: 'give the cluster a larger pool (--machine-pool / --machine-pool6, the same on every host), or delete the subnets/ claims of hosts that are gone',
    },
  );
}
