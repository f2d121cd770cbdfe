/**
 * `npm run bench -- isolation [ROUNDS] [PINGS]`: what the organisation isolation rules cost each
 * packet. Two machines' namespaces on a bridge of their own (the real host network code) exchange
 * flood pings (`ping -f`: one in flight, so time per ping is the round trip); rounds with the rules
 * (holding 1,000 more machines in 100 orgs, so set sizes show) and without them alternate, and the
 * medians are compared. Each round trip is two packets through the bridge, hence the halving.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createHostNetwork } from '../src/net/mod.ts';
import type { MachineMember } from '../src/net/types.ts';
import { runCommand } from '../src/run-command.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = Number(process.argv[2] ?? 7);
const PINGS = Number(process.argv[3] ?? 20_000);
const FILLER_MACHINES = 1_000;

const tag = randomBytes(2).toString('hex');
const options = {
  bridge: `nbb${tag}`,
  ipv4Cidr: `10.${randomInt(100, 250)}.0.0/16`,
  ipv6Cidr: `fdbd:${Number.parseInt(tag, 16).toString(16)}::/64`,
  netnsPrefix: `nbb${tag}-`,
  hostTcpPorts: [],
};
const network = createHostNetwork(options);

/** Microseconds per round trip of `PINGS` flood pings from machine a to `to`, as ping timed them.
 *  A lost reply makes ping wait 10 ms, which is no cost of the rules: such a round is run again. */
async function roundTripUs(to: string, attempts = 5): Promise<number> {
  const result = await runCommand(
    'ip',
    ['netns', 'exec', `${options.netnsPrefix}a`, 'ping', '-f', '-q', '-c', String(PINGS), to],
    { timeoutMs: 120_000 },
  );
  const summary = / (\d+) received.*time (\d+)ms/.exec(result.stdout);
  if (summary && Number(summary[1]) === PINGS) return (Number(summary[2]) * 1000) / PINGS;
  if (attempts > 1) return roundTripUs(to, attempts - 1);
  throw new Error(`ping -f to ${to} failed: ${result.stdout}${result.stderr}`);
}

async function withoutRules(): Promise<void> {
  await runCommand('nft', ['delete', 'table', 'bridge', `nearby_${options.bridge}`]);
  await runCommand('nft', ['delete', 'table', 'inet', `nearby_${options.bridge}_host`]);
}

try {
  if ((await runCommand('ping', ['-V'])).code !== 0)
    throw new Error('needs iputils-ping (scripts/bench.sh installs it)');
  await network.ensure();
  const a = network.allocate([]);
  const b = network.allocate([a.ipv4]);
  await network.attach('a', a, 'bench');
  await network.attach('b', b, 'bench');
  const members: MachineMember[] = [
    { machineId: 'a', ...a, org: 'bench' },
    { machineId: 'b', ...b, org: 'bench' },
  ];
  const used = [a.ipv4, b.ipv4];
  for (let i = 0; i < FILLER_MACHINES; i++) {
    const addresses = network.allocate(used);
    used.push(addresses.ipv4);
    members.push({ machineId: `filler${i}`, ...addresses, org: `org${i % 100}` });
  }
  const withRules = async () => {
    await network.ensure();
    await network.isolate(members);
  };
  const samples = {
    ipv4: { on: [] as number[], off: [] as number[] },
    ipv6: { on: [] as number[], off: [] as number[] },
  };
  // A warm-up of each, then alternate so drift on a shared machine hits both alike.
  await roundTripUs(b.ipv4);
  for (let round = 0; round < ROUNDS; round++) {
    for (const rules of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      await (rules === 'on' ? withRules() : withoutRules());
      samples.ipv4[rules].push(await roundTripUs(b.ipv4));
      samples.ipv6[rules].push(await roundTripUs(b.ipv6));
    }
  }
  const line = (name: string, value: number, digits = 1) => console.log(`${name}=${value.toFixed(digits)}`);
  const added: number[] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const on = stats(samples[family].on).p50;
    const off = stats(samples[family].off).p50;
    line(`isolation_${family}_round_trip_us_without`, off, 2);
    line(`isolation_${family}_round_trip_us_with`, on, 2);
    line(`isolation_${family}_ns_per_packet_added`, ((on - off) * 1000) / 2, 0);
    line(`isolation_${family}_ratio`, on / off, 3);
    added.push(((on - off) * 1000) / 2);
  }
  line('isolation_ns_per_packet_added', Math.max(...added), 0);
  console.log(
    `isolation_rounds=${ROUNDS} isolation_pings_per_round=${PINGS} isolation_members=${members.length}`,
  );
} finally {
  await network.teardown();
}
