/**
 * The host network: a bridge with the subnets' first addresses, forwarding and egress NAT, and per
 * machine a network namespace joined to the bridge by a veth pair. Every step is idempotent.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { mustRun, runCommand } from './command.ts';
import { invalidName } from './errors.ts';
import { allocateAddresses, gatewayAddresses, parseIpv4Cidr } from './ipam.ts';
import {
  admitMember,
  ensureHostGuard,
  ensurePortTable,
  rebuildPortTable,
  releasePort,
  removeIsolation,
} from './isolation.ts';
import type { BridgeShape } from './isolation-rules.ts';
import { ensureMeshGuard, removeMeshGuard } from './mesh-rules.ts';
import { ensureNat, removeNat } from './nat.ts';
import {
  deleteLink,
  deleteNetns,
  ensureNetns,
  ensureVeth,
  linkExists,
  listNetns,
  vethNames,
} from './netns.ts';
import type {
  Attachment,
  HostNetwork,
  HostNetworkOptions,
  MachineAddresses,
  MachineMember,
} from './types.ts';

export const defaultHostNetworkOptions: HostNetworkOptions = {
  bridge: 'nearby0',
  ipv4Cidr: '172.19.0.0/16',
  ipv6Cidr: 'fdaa:0:1::/64',
  netnsPrefix: 'nearby-',
  hostTcpPorts: [],
};

const NAME_PATTERN = /^[a-zA-Z0-9_.-]+$/;

async function setSysctl(path: string, value: string): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current?.trim() !== value) await writeFile(path, value);
}

export class LinuxHostNetwork implements HostNetwork {
  readonly options: HostNetworkOptions;

  constructor(options: Partial<HostNetworkOptions> = {}) {
    this.options = { ...defaultHostNetworkOptions, ...options };
    const { bridge, netnsPrefix } = this.options;
    if (bridge.length > 15 || !NAME_PATTERN.test(bridge))
      invalidNameError(bridge, 'at most 15 of [a-zA-Z0-9_.-]');
    if (!NAME_PATTERN.test(netnsPrefix)) invalidNameError(netnsPrefix, 'only [a-zA-Z0-9_.-]');
    parseIpv4Cidr(this.options.ipv4Cidr);
    gatewayAddresses(this.options.ipv4Cidr, this.options.ipv6Cidr);
  }

  #netnsName(machineId: string): string {
    if (!NAME_PATTERN.test(machineId)) invalidNameError(machineId, 'a machine id holds only [a-zA-Z0-9_.-]');
    return `${this.options.netnsPrefix}${machineId}`;
  }

  async ensure(): Promise<void> {
    const { bridge, ipv4Cidr, ipv6Cidr } = this.options;
    const gateway = gatewayAddresses(ipv4Cidr, ipv6Cidr);
    const prefixLength = parseIpv4Cidr(ipv4Cidr).prefixLength;
    if (!(await linkExists(bridge)))
      await mustRun('ip', ['link', 'add', bridge, 'type', 'bridge'], /File exists/);
    await setSysctl(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '0');
    await mustRun('ip', ['addr', 'replace', `${gateway.ipv4}/${prefixLength}`, 'dev', bridge]);
    // nodad: the address is ours alone, and DAD would hold it "tentative" for a second or more.
    await mustRun('ip', ['-6', 'addr', 'replace', `${gateway.ipv6}/64`, 'dev', bridge, 'nodad']);
    await mustRun('ip', ['link', 'set', bridge, 'up']);
    await setSysctl('/proc/sys/net/ipv4/ip_forward', '1');
    await setSysctl('/proc/sys/net/ipv6/conf/all/forwarding', '1');
    const mesh = this.options.meshInterface;
    if (mesh) await ensureMeshGuard(bridge, mesh); // before the guard lets the mesh's traffic past
    await ensureNat(bridge, ipv4Cidr, ipv6Cidr, mesh ? [mesh] : []);
    await ensureHostGuard(bridge, this.options.hostTcpPorts, mesh);
    await ensurePortTable(this.#shape(), await this.#ports());
  }

  async isolate(members: MachineMember[]): Promise<void> {
    const { bridge } = this.options;
    await rebuildPortTable(
      this.#shape(),
      members.map((m) => ({
        port: vethNames(bridge, m.machineId).host,
        ipv4: m.ipv4,
        ipv6: m.ipv6,
        org: m.org,
      })),
      await this.#ports(),
    );
  }

  #shape(): BridgeShape {
    const { bridge, ipv4Cidr, ipv6Cidr } = this.options;
    return { bridge, ipv4Cidr, ipv6Cidr, gateway: gatewayAddresses(ipv4Cidr, ipv6Cidr) };
  }

  /** The bridge's ports as the kernel has them. */
  async #ports(): Promise<string[]> {
    const ports = await runCommand('ip', ['-o', 'link', 'show', 'master', this.options.bridge]);
    if (ports.code !== 0) return [];
    return ports.stdout
      .split('\n')
      .map((line) => line.split(': ')[1]?.split('@')[0])
      .filter((name): name is string => Boolean(name));
  }

  allocate(inUse: Iterable<string>): MachineAddresses {
    return allocateAddresses(this.options.ipv4Cidr, this.options.ipv6Cidr, inUse);
  }

  async attach(machineId: string, addresses: MachineAddresses, org: string): Promise<Attachment> {
    const { bridge, ipv4Cidr, ipv6Cidr } = this.options;
    const netns = this.#netnsName(machineId);
    const gateway = gatewayAddresses(ipv4Cidr, ipv6Cidr);
    const prefixLength = parseIpv4Cidr(ipv4Cidr).prefixLength;
    const netnsPath = await ensureNetns(netns);
    // Admitted before its port joins the bridge: a port the rules do not know may send nothing,
    // and one they know talks to its org from its first frame.
    await admitMember(bridge, { port: vethNames(bridge, machineId).host, ...addresses, org });
    await ensureVeth(bridge, machineId, netns);
    const inNs = (args: string[]) => mustRun('ip', ['-n', netns, ...args]);
    await inNs(['link', 'set', 'lo', 'up']);
    await inNs(['addr', 'replace', `${addresses.ipv4}/${prefixLength}`, 'dev', 'eth0']);
    await inNs(['-6', 'addr', 'replace', `${addresses.ipv6}/64`, 'dev', 'eth0', 'nodad']);
    await inNs(['link', 'set', 'eth0', 'up']);
    await inNs(['route', 'replace', 'default', 'via', gateway.ipv4, 'dev', 'eth0']);
    await inNs(['-6', 'route', 'replace', 'default', 'via', gateway.ipv6, 'dev', 'eth0']);
    return { ...addresses, netnsPath };
  }

  async detach(machineId: string): Promise<void> {
    const port = vethNames(this.options.bridge, machineId).host;
    await deleteLink(port);
    await deleteNetns(this.#netnsName(machineId));
    // After the port is gone: its addresses may go to the next machine.
    await releasePort(this.options.bridge, port);
  }

  async teardown(): Promise<void> {
    const { bridge, netnsPrefix } = this.options;
    for (const name of await listNetns(netnsPrefix)) await deleteNetns(name);
    // Host ends of veths whose namespace is already gone vanish with it; any left are on the bridge.
    for (const port of await this.#ports()) await deleteLink(port);
    await deleteLink(bridge);
    await removeNat(bridge);
    await removeIsolation(bridge);
    await removeMeshGuard(bridge);
  }
}

function invalidNameError(name: string, why: string): never {
  throw invalidName(name, why);
}
