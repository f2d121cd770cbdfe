/**
 * The WireGuard mesh between hosts (6PN across hosts): one key pair per agent, one `wireguard-go`
 * interface per host, its peers the other hosts. Every step checks first, so re-running after a
 * crash or an agent restart converges on the same interface with the same key.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mustRun, runCommand } from './command.ts';
import { linkExists } from './netns.ts';

export interface MeshKeys {
  privateKeyPath: string;
  publicKey: string;
}

export interface MeshPeer {
  publicKey: string;
  /** `address:port` of the peer's WireGuard socket (its backhaul address). */
  endpoint: string;
  /** The peer's mesh address (/128 or /32) and the machine subnets it hosts: cryptokey routing
   *  drops any packet from this peer whose source lies outside them, the anti-spoofing across hosts. */
  allowedIps: string[];
}

export interface MeshInterface {
  name: string;
  /** Namespace the interface lives in (the tests and the world); the agent's own is the root one. */
  netns?: string;
  privateKeyPath: string;
  listenPort: number;
  /** The host's mesh addresses with prefix, e.g. `fdaa:ff::1/48`. */
  addresses: string[];
}

/** Made once per data dir and kept (0600): the public key the others know must survive restarts. */
export async function ensureMeshKeys(dataDir: string): Promise<MeshKeys> {
  const privateKeyPath = join(dataDir, 'wireguard.key');
  if (!existsSync(privateKeyPath)) {
    await mkdir(dataDir, { recursive: true });
    const { stdout } = await mustRun('wg', ['genkey']);
    await writeFile(privateKeyPath, stdout, { mode: 0o600 });
  }
  await chmod(privateKeyPath, 0o600);
  const privateKey = await readFile(privateKeyPath, 'utf8');
  const { stdout } = await mustRun('wg', ['pubkey'], undefined, privateKey);
  return { privateKeyPath, publicKey: stdout.trim() };
}

/** The control sockets in /var/run/wireguard are shared by all namespaces of the machine, so the
 *  name is a hash of something unique per host (its name or bridge), at most 15 characters. */
export function meshInterfaceName(unique: string): string {
  return `nbwg${createHash('sha256').update(unique).digest('hex').slice(0, 10)}`;
}

function inNetns(netns: string | undefined, file: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, file, ...args]] : [file, args];
}

async function run(netns: string | undefined, file: string, args: string[], tolerate?: RegExp) {
  const [command, commandArgs] = inNetns(netns, file, args);
  return mustRun(command, commandArgs, tolerate);
}

/** Creates (or re-uses) the interface: wireguard-go daemonises itself and exits when the link is
 *  deleted, so the link is the one thing to own. */
export async function ensureMeshInterface(mesh: MeshInterface): Promise<void> {
  if (!(await linkExists(mesh.name, mesh.netns))) {
    await rm(`/var/run/wireguard/${mesh.name}.sock`, { force: true });
    await run(mesh.netns, 'wireguard-go', [mesh.name]);
  }
  await run(mesh.netns, 'wg', [
    'set',
    mesh.name,
    'private-key',
    mesh.privateKeyPath,
    'listen-port',
    String(mesh.listenPort),
  ]);
  for (const address of mesh.addresses) {
    // No duplicate address detection on a point-to-multipoint tunnel: the address is usable at once.
    const nodad = address.includes(':') ? ['nodad'] : [];
    await run(mesh.netns, 'ip', ['address', 'replace', address, 'dev', mesh.name, ...nodad]);
  }
  await run(mesh.netns, 'ip', ['link', 'set', mesh.name, 'up']);
}

/** Makes the peers exactly `peers`: the others removed, each wanted one set with its routes. */
export async function setMeshPeers(mesh: Pick<MeshInterface, 'name' | 'netns'>, peers: MeshPeer[]) {
  const { stdout } = await run(mesh.netns, 'wg', ['show', mesh.name, 'peers']);
  const wanted = new Set(peers.map((peer) => peer.publicKey));
  for (const key of stdout.split('\n').filter(Boolean)) {
    if (!wanted.has(key)) await run(mesh.netns, 'wg', ['set', mesh.name, 'peer', key, 'remove']);
  }
  for (const peer of peers) {
    await run(mesh.netns, 'wg', [
      'set',
      mesh.name,
      'peer',
      peer.publicKey,
      'endpoint',
      peer.endpoint,
      'allowed-ips',
      peer.allowedIps.join(','),
      'persistent-keepalive',
      '25',
    ]);
    for (const prefix of peer.allowedIps) {
      await run(mesh.netns, 'ip', ['route', 'replace', prefix, 'dev', mesh.name]);
    }
  }
}

/** Bytes received and sent per peer public key, as `wg show transfer` counts them. */
export async function meshTransfer(mesh: Pick<MeshInterface, 'name' | 'netns'>) {
  const { stdout } = await run(mesh.netns, 'wg', ['show', mesh.name, 'transfer']);
  const transfer = new Map<string, { received: number; sent: number }>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [key, received, sent] = line.split('\t');
    transfer.set(key, { received: Number(received), sent: Number(sent) });
  }
  return transfer;
}

/** Deleting the link ends its wireguard-go; the socket file is removed in case it was not. */
export async function deleteMeshInterface(mesh: Pick<MeshInterface, 'name' | 'netns'>) {
  if (await linkExists(mesh.name, mesh.netns)) {
    const [command, args] = inNetns(mesh.netns, 'ip', ['link', 'delete', mesh.name]);
    await runCommand(command, args);
  }
  await rm(`/var/run/wireguard/${mesh.name}.sock`, { force: true });
}
