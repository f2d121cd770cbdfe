/**
 * `npm run bench -- wireguard [ROUNDS] [PINGS]`: what a hop over the WireGuard mesh adds to a
 * round trip between two hosts. Two "hosts" (namespaces joined by a veth, the bare link) run the
 * real mesh code; rounds of flood pings (`ping -f`: one in flight, so time per ping is the round
 * trip) to the peer's underlay address and to its mesh address alternate, and the medians are
 * compared. The difference is the encryption and the userspace hop through wireguard-go both ways.
 */
import { runCommand } from '../src/run-command.ts';
import { makeMeshHosts, peerEachOther } from '../test/helpers/mesh-hosts.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const PINGS = Number(process.argv[3] ?? 2_000);

const { hosts, remove } = await makeMeshHosts('nbwgb');
const [a, b] = hosts;

/** Milliseconds per round trip of `PINGS` flood pings from a to `to`, as ping timed them. */
async function roundTripMs(to: string): Promise<number> {
  const result = await runCommand(
    'ip',
    ['netns', 'exec', a.netns, 'ping', '-f', '-q', '-c', String(PINGS), to],
    {
      timeoutMs: 120_000,
    },
  );
  const summary = / (\d+) received.*time (\d+)ms/.exec(result.stdout);
  if (!summary) throw new Error(`ping -f to ${to} failed: ${result.stdout}${result.stderr}`);
  return Number(summary[2]) / Number(summary[1]);
}

try {
  await peerEachOther(a, b);
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
  await remove();
}
