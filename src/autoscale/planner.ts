/**
 * The autoscaler's decisions for one app (docs/autoscale.md), pure so that sequences of demand are
 * tested without I/O. Grow where demand enters: a region whose machines carry more than
 * `target_concurrency` each, or whose users are served far away (most of their requests, at an RTT
 * worth removing), gets `scale_up_step` machines (if allowed; else the allowed region nearest to
 * it, when that is clearly nearer). Shrink only what stays idle: a region whose machines served
 * nothing for `cooldown` loses `scale_down_step`, down to `min_machines` (the primary region keeps
 * one). After any change a region
 * is left alone for `cooldown`. Adding needs demand and removing needs none for a whole cooldown:
 * the two thresholds are far apart, so the machine set never flaps.
 */
import type { AutoscaleConfig, AutoscaleDecision } from '../model/mod.ts';
import { type RegionDemand, type RttMatrix, rttBetween } from './demand.ts';

export interface PlannedMachine {
  id: string;
  region: string;
  /** The machine's observed state (`started`, `stopped`, `starting`…). */
  state: string;
  /** ms: when it was created (a new machine counts as busy until it had a chance to serve). */
  createdAt: number;
}

export interface PlannerInput {
  config: AutoscaleConfig;
  /** The autoscaled group's machines, none of those being removed. */
  machines: readonly PlannedMachine[];
  demand: ReadonlyMap<string, RegionDemand>;
  rtt: RttMatrix;
  /** The app's home (`primary_region`): it keeps one machine while min_machines is above 0. */
  primaryRegion: string;
  /** Regions with live hosts: where machines can go when `config.regions` is empty. */
  liveRegions: readonly string[];
  /** The last decisions (oldest first): when each region last changed. */
  decisions: readonly AutoscaleDecision[];
  /** ms: when each region's machines last carried a request (the loop keeps it from demand). */
  lastBusy: ReadonlyMap<string, number>;
  now: number;
}

export interface PlannedDecision extends Omit<AutoscaleDecision, 'at' | 'machines'> {
  /** For `remove`: which machines (stopped ones first, then the newest). */
  remove?: string[];
}

/** The figures that separate "busy enough to grow" from "idle enough to shrink". */
export const thresholds = {
  /** A region grows when its machines carry more than this share of target_concurrency each. */
  loadRatio: 1,
  /** …or when at least this share of the requests entering it is served elsewhere… */
  farShare: 0.5,
  /** …at an RTT of at least this many ms… */
  farRttMs: 30,
  /** …and there is demand at all: this many requests per second, or one in flight. */
  minRps: 0.2,
};

const round = (value: number) => Math.round(value * 100) / 100;

export function planAutoscale(input: PlannerInput): PlannedDecision[] {
  const { config, machines, demand, now } = input;
  const allowed = config.regions.length > 0 ? config.regions : input.liveRegions;
  const count = (region: string) => machines.filter((machine) => machine.region === region).length;
  let total = machines.length;
  const lastChange = new Map<string, number>();
  for (const decision of input.decisions)
    if (decision.action !== 'hold')
      lastChange.set(
        decision.region,
        Math.max(lastChange.get(decision.region) ?? 0, Date.parse(decision.at)),
      );
  const cooling = (region: string) =>
    now - (lastChange.get(region) ?? Number.NEGATIVE_INFINITY) < config.cooldown;
  const decisions: PlannedDecision[] = [];
  const grown = new Set<string>();

  const grow = (region: string, wanted: number, reason: string, figures: PlannedDecision['figures']) => {
    if (grown.has(region) || cooling(region)) return;
    const room = config.max_machines - total;
    const step = Math.min(Math.max(wanted, 1), config.scale_up_step);
    if (room <= 0) {
      decisions.push({
        action: 'hold',
        region,
        count: 0,
        reason: `${reason}, but the app is at max_machines (${config.max_machines})`,
        blocked_by: 'max_machines',
        figures: { ...figures, max_machines: config.max_machines },
      });
      return;
    }
    const add = Math.min(step, room);
    grown.add(region);
    total += add;
    decisions.push({ action: 'add', region, count: add, reason, figures });
  };

  // Grow: regions in name order, so the same demand always gives the same decisions.
  for (const [entry, seen] of [...demand].sort(([a], [b]) => a.localeCompare(b))) {
    const here = count(entry);
    if (here > 0 && allowed.includes(entry)) {
      const perMachine = seen.loadConcurrency / here;
      if (perMachine > config.target_concurrency * thresholds.loadRatio) {
        const wanted = Math.ceil(seen.loadConcurrency / config.target_concurrency) - here;
        grow(
          entry,
          wanted,
          `${entry}'s ${here} machine${here === 1 ? '' : 's'} carry ${round(perMachine)} concurrent requests each, over target_concurrency ${config.target_concurrency}`,
          {
            concurrency: round(seen.loadConcurrency),
            machines: here,
            per_machine: round(perMachine),
            target_concurrency: config.target_concurrency,
          },
        );
      }
      continue;
    }
    // Served far: only while the region has no machine (one starting or stopped serves soon).
    const active = seen.enteredRps >= thresholds.minRps || seen.enteredConcurrency >= 1;
    const share = seen.enteredRps > 0 ? seen.farRps / seen.enteredRps : seen.farConcurrency > 0 ? 1 : 0;
    if (!active || share < thresholds.farShare || seen.farRttMs < thresholds.farRttMs) continue;
    const target = nearestAllowed(entry, allowed, input.rtt);
    if (target === undefined) continue;
    const targetRtt = rttBetween(input.rtt, entry, target) ?? 0;
    // Somewhere nearer than where they are served now, by as much as the far threshold.
    if (seen.farRttMs - targetRtt < thresholds.farRttMs || count(target) > 0) continue;
    const wanted = Math.ceil(seen.enteredConcurrency / config.target_concurrency);
    const where = target === entry ? `in ${entry}` : `in ${target}, the allowed region nearest to ${entry}`;
    grow(
      target,
      wanted,
      `${round(share * 100)}% of ${entry}'s requests were served in ${seen.farServedIn ?? 'another region'} at ${Math.round(seen.farRttMs)} ms: a machine ${where}`,
      {
        entered_rps: round(seen.enteredRps),
        far_rps: round(seen.farRps),
        far_share: round(share),
        far_rtt_ms: Math.round(seen.farRttMs),
        concurrency: round(seen.enteredConcurrency),
        rtt_after_ms: Math.round(targetRtt),
      },
    );
  }

  // Shrink: idle regions, the most recently grown first, so the app keeps where it started.
  const newest = (region: string) =>
    Math.max(...machines.filter((m) => m.region === region).map((m) => m.createdAt));
  const regions = [...new Set(machines.map((machine) => machine.region))].sort(
    (a, b) => newest(b) - newest(a),
  );
  for (const region of regions) {
    if (grown.has(region) || cooling(region) || total <= config.min_machines) continue;
    const seen = demand.get(region);
    if (seen !== undefined && (seen.loadConcurrency > 0 || seen.loadRps > 0)) continue;
    const busy = Math.max(input.lastBusy.get(region) ?? 0, newest(region), lastChange.get(region) ?? 0);
    const idleMs = now - busy;
    if (idleMs < config.cooldown) continue;
    const here = machines.filter((machine) => machine.region === region);
    const keep = region === input.primaryRegion && config.min_machines > 0 ? 1 : 0;
    const remove = Math.min(config.scale_down_step, here.length - keep, total - config.min_machines);
    if (remove <= 0) continue;
    const stoppedFirst = here.toSorted(
      (a, b) => Number(a.state === 'started') - Number(b.state === 'started') || b.createdAt - a.createdAt,
    );
    total -= remove;
    decisions.push({
      action: 'remove',
      region,
      count: remove,
      reason: `${region}'s machines served nothing for ${Math.round(idleMs / 1000)} s (cooldown ${Math.round(config.cooldown / 1000)} s)`,
      figures: {
        idle_s: Math.round(idleMs / 1000),
        machines: here.length,
        min_machines: config.min_machines,
      },
      remove: stoppedFirst.slice(0, remove).map((machine) => machine.id),
    });
  }
  return decisions;
}

/** The entry region itself when allowed, else the allowed region with the lowest RTT to it. */
function nearestAllowed(entry: string, allowed: readonly string[], rtt: RttMatrix): string | undefined {
  if (allowed.includes(entry)) return entry;
  let best: { region: string; rtt: number } | undefined;
  for (const region of allowed) {
    const ms = rttBetween(rtt, entry, region);
    if (ms !== undefined && (best === undefined || ms < best.rtt)) best = { region, rtt: ms };
  }
  return best?.region;
}

/** The loop's memory of when each region's machines last carried a request, updated from demand. */
export function noteBusy(
  lastBusy: Map<string, number>,
  demand: ReadonlyMap<string, RegionDemand>,
  now: number,
): void {
  for (const [region, seen] of demand)
    if (seen.loadRps > 0 || seen.loadConcurrency > 0) lastBusy.set(region, now);
}
