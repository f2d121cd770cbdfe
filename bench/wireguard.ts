/**
 * `npm run bench -- wireguard [ROUNDS] [PINGS]`: what a hop over the WireGuard mesh adds to a
 * round trip between two hosts. Two "hosts" (namespaces joined by a veth, the bare link) run the
 * real mesh code; rounds of flood pings (`ping -f`: one in flight, so time per ping is the round
 * trip) to the peer's underlay address and to its mesh address alternate, and the medians are
 * compared. The difference is the encryption, the userspace hop through wireguard-go both ways.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun } from '../src/net/command.ts';
import { deleteNetns, ensureNetns } from '../src/net/netns.ts';
import {
  deleteMeshInterface,
  ensureMeshInterface,
  ensureMeshKeys,
  meshInterfaceName,
  setMeshPeers,
} from '../src/net/wireguard.ts';
import { runCommand } from '../src/run-command.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const PINGS = Number(process.argv[3] ?? 2_000);

const tag = randomBytes(2).toString('hex');
const hosts = ['a', 'b'].map((side, index) => ({
  netns: `nbwgb${tag}${side}`,
  name: meshInterfaceName(`bench-${tag}-${side}`),
  underlay: `10.251.${Number.parseInt(tag.slice(0, 2), 16)}.${index + 1}`,
  mesh: `fdaa:fe:${tag}::${index + 1}`,
  dataDir: '',
}));
const [a, b] = hosts;

/** Milliseconds per round trip of `PINGS` flood pings from a to `to`, as ping timed them. */
async function roundTripMs(to: string): Promise<number> {
  const result = await runCommand(
    'ip',
    ['netns', 'exec', a.netns, 'ping', '-f', '-q', '-c', String(PINGS), to],
    { timeoutMs: 120_000 },
  );
  const summary = / (\d+) received.*time (\d+)ms/.exec(result.stdout);
  if (!summary) throw new Error(`ping -f to ${to} failed: ${result.stdout}${result.stderr}`);
  return Number(summary[2]) / Number(summary[1]);
}

try {
  const keys = [];
  for (const host of hosts) {
    await ensureNetns(host.netns);
    host.dataDir = await mkdtemp(join(tmpdir(), 'nbwgb-'));
    keys.push(await ensureMeshKeys(host.dataDir));
  }
  await mustRun('ip', [
    '-n',
    a.netns,
    'link',
    'add',
    'u0',
    'type',
    'veth',
    'peer',
    'name',
    'u0',
    'netns',
    b.netns,
  ]);
  for (const [index, host] of hosts.entries()) {
    await mustRun('ip', ['-n', host.netns, 'address', 'add', `${host.underlay}/24`, 'dev', 'u0']);
    await mustRun('ip', ['-n', host.netns, 'link', 'set', 'u0', 'up']);
    await ensureMeshInterface({
      ...host,
      ...keys[index],
      listenPort: 51820,
      addresses: [`${host.mesh}/128`],
    });
  }
  for (const [index, other] of [b, a].entries()) {
    await setMeshPeers(hosts[index], [
      {
        publicKey: keys[1 - index].publicKey,
        endpoint: `${other.underlay}:51820`,
        allowedIps: [`${other.mesh}/128`],
      },
    ]);
  }
  const bare: number[] = [];
  const mesh: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(await roundTripMs(b.underlay));
    mesh.push(await roundTripMs(b.mesh));
  }
  const bareMs = stats(bare).p50;
  const meshMs = stats(mesh).p50;
  console.log(`bare_rtt_ms=${bareMs.toFixed(3)}`);
  console.log(`wireguard_rtt_ms=${meshMs.toFixed(3)}`);
  console.log(`wireguard_hop_added_ms=${(meshMs - bareMs).toFixed(3)}`);
  console.log(`wireguard_rtt_ratio=${(meshMs / bareMs).toFixed(2)}`);
} finally {
  for (const host of hosts) {
    await deleteMeshInterface(host).catch(() => {});
    await deleteNetns(host.netns);
    if (host.dataDir) await rm(host.dataDir, { recursive: true, force: true });
  }
}
