/**
 * A tap device for a microVM, inside the machine's network namespace: the namespace's eth0 (its
 * veth on the host bridge) and the tap join a bridge there, and the guest takes the machine's
 * addresses, so the VM is reached exactly as a container is. Idempotent.
 */
import { mustRun } from './command.ts';
import { linkExists } from './netns.ts';

export const MACHINE_TAP = 'tap0';
const NETNS_BRIDGE = 'br0';

export interface NamespaceAddresses {
  ipv4?: { address: string; prefixLength: number; gateway: string };
  ipv6?: { address: string; prefixLength: number; gateway: string };
}

interface IpAddr {
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

/** The machine's addresses and gateways as the network part set them on the namespace's eth0. */
export async function namespaceAddresses(netns: string): Promise<NamespaceAddresses> {
  const addrs = JSON.parse(
    (await mustRun('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', 'eth0'])).stdout,
  ) as IpAddr[];
  const gateway = async (family: '-4' | '-6') => {
    const routes = JSON.parse(
      (await mustRun('ip', ['-n', netns, '-j', family, 'route', 'show', 'default'])).stdout,
    ) as { gateway?: string }[];
    return routes[0]?.gateway;
  };
  const result: NamespaceAddresses = {};
  for (const info of addrs[0]?.addr_info ?? []) {
    if (info.scope !== 'global') continue;
    const family = info.family === 'inet' ? 'ipv4' : 'ipv6';
    const gw = await gateway(family === 'ipv4' ? '-4' : '-6');
    if (gw) result[family] = { address: info.local, prefixLength: info.prefixlen, gateway: gw };
  }
  return result;
}

/** Moves the machine's network from the namespace to the guest: eth0 loses its addresses and is
 *  bridged with the tap QEMU opens. */
export async function ensureMachineTap(netns: string): Promise<string> {
  const inNs = (args: string[], ok?: RegExp) => mustRun('ip', ['-n', netns, ...args], ok);
  await inNs(['addr', 'flush', 'dev', 'eth0']);
  if (!(await linkExists(NETNS_BRIDGE, netns))) {
    await inNs(['link', 'add', NETNS_BRIDGE, 'type', 'bridge'], /File exists/);
    // The namespace itself talks to nobody: no IPv6 link-local address (and chatter) on its bridge.
    await inNs(['link', 'set', NETNS_BRIDGE, 'addrgenmode', 'none']);
  }
  await inNs(['link', 'set', NETNS_BRIDGE, 'up']);
  await inNs(['link', 'set', 'eth0', 'master', NETNS_BRIDGE, 'up']);
  if (!(await linkExists(MACHINE_TAP, netns))) {
    await inNs(['tuntap', 'add', 'dev', MACHINE_TAP, 'mode', 'tap'], /File exists/);
  }
  await inNs(['link', 'set', MACHINE_TAP, 'master', NETNS_BRIDGE, 'up']);
  return MACHINE_TAP;
}
