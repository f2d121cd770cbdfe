/**
 * This proxy among the others of a cluster: it publishes `proxies/<host>` (where its backhaul is,
 * the RTTs it measured) every `heartbeatMs`, watches the others' records, and probes each live
 * peer's backhaul for the round-trip time that ranks regions (placement.ts). A peer whose record
 * was not refreshed for `staleMs` is dead: its machines take no requests. The clock is this proxy's
 * own record as its watch sees it come back: while this proxy cannot publish or its watch is
 * stalled (a NATS node died under it, the store is away), no peer goes stale (fail static); and a
 * peer is dead only once this proxy's own heartbeats got through as often as it missed them, so
 * when the whole store took no writes for a while, nobody is dropped as the writes resume.
 */
import type { Agent } from 'node:https';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { ProxyRecord } from '../model/app.ts';
import { HEARTBEAT_MS, HOST_DOWN_MS } from '../model/host-liveness.ts';
import { keys } from '../model/keys.ts';
import type { Store } from '../store/types.ts';
import { nearbyVersion } from '../version.ts';
import { pingPeer } from './backhaul-client.ts';
import { PING_PATH } from './backhaul-config.ts';
import { formatListen, parseListen } from './haproxy-config.ts';
import { median, type Peer, type Placement, rankRegions } from './placement.ts';
import { StoreMirror } from './store-mirror.ts';

export interface PeerTiming {
  /** How often the record is refreshed and peers are probed. */
  heartbeatMs: number;
  /** A record older than this (not refreshed) is a dead proxy. */
  staleMs: number;
  /** RTT samples kept per peer; the median of them is published. */
  rttWindow: number;
}

/** A proxy beats and is dead on the same schedule as its host's agent (model/host-liveness.ts). */
export const peerTimingDefaults: PeerTiming = {
  heartbeatMs: HEARTBEAT_MS,
  staleMs: HOST_DOWN_MS,
  rttWindow: 5,
};

export interface PeersOptions {
  store: Store;
  host: string;
  region: string;
  /** `address:port` other proxies reach this one's backhaul at. */
  advertise: string;
  agent: Agent;
  timing: PeerTiming;
  signal: AbortSignal;
  /** The set of live peers or their ranking changed: routes are due again. */
  onChange: () => void;
  log: pino.Logger;
}

export class Peers {
  readonly #options: PeersOptions;
  readonly #mirror: StoreMirror<ProxyRecord>;
  /**
   * When this proxy last saw each record change, by host (starting from the record's own time),
   * and how many times it had seen its own record change by then.
   */
  readonly #seenAt = new Map<string, { revision: number; at: number; own: number }>();
  /** Changes of this proxy's own record its watch has shown: the heartbeats that got through. */
  #ownBeats = 0;
  readonly #samples = new Map<string, number[]>();
  #timer: NodeJS.Timeout | undefined;
  #lastShape = '';
  /** Other regions nearest first, as routing uses them (changed only in `#reshaped`). */
  #ranks: string[] | undefined;
  #publishFailing = false;

  constructor(options: PeersOptions) {
    this.#options = options;
    this.#mirror = new StoreMirror<ProxyRecord>(
      options.store,
      keys.proxies(),
      options.signal,
      () => this.#changed(),
      options.log,
    );
    options.signal.addEventListener('abort', () => clearTimeout(this.#timer), { once: true });
  }

  get mirror(): StoreMirror<ProxyRecord> {
    return this.#mirror;
  }

  /** Publishes the record now and every `heartbeatMs` after. */
  async start(): Promise<void> {
    await this.#publish();
    this.#tick();
  }

  /** Where this proxy stands and its live peers, for routing. */
  placement(): Placement {
    const { host, region, timing } = this.#options;
    // Peers are judged by what this proxy's watch shows: a stalled watch shows no refresh at all.
    const now = this.#seenAt.get(host)?.at ?? Date.now();
    // And by heartbeats that got through: when the store takes no writes for a while (a NATS
    // leader election), nobody's heartbeat gets through; once writes resume, a peer is given as
    // many of this proxy's own heartbeats as a dead one would miss before it counts as dead.
    const beats = Math.ceil(timing.staleMs / timing.heartbeatMs);
    const peers = new Map<string, Peer>();
    for (const [key, entry] of this.#mirror.entries) {
      const record = entry.value;
      if (record.host === host || key !== keys.proxy(record.host)) continue;
      const seen = this.#seenAt.get(record.host);
      const backhaul = parseListen(record.backhaul ?? '');
      if (seen === undefined || backhaul === undefined) continue;
      if (now - seen.at > timing.staleMs && this.#ownBeats - seen.own >= beats) continue;
      const rttMs = median(this.#samples.get(record.host) ?? []);
      peers.set(record.host, {
        host: record.host,
        region: record.region,
        backhaul,
        ...(rttMs !== undefined ? { rttMs } : {}),
      });
    }
    return { host, region, peers, ranks: this.#ranks };
  }

  #changed() {
    const now = Date.now();
    const { host, timing } = this.#options;
    const own = this.#mirror.entries.get(keys.proxy(host));
    if (own !== undefined && this.#seenAt.get(host)?.revision !== own.revision) this.#ownBeats++;
    for (const entry of this.#mirror.entries.values()) {
      const record = entry.value;
      const seen = this.#seenAt.get(record.host);
      if (seen?.revision === entry.revision) continue;
      // First sight: the record's own time, so a dead proxy's last record is not taken for a live one.
      const at = seen === undefined ? Math.min(now, Date.parse(record.heartbeat_at) || 0) : now;
      const old = now - at > timing.staleMs;
      const beats = Math.ceil(timing.staleMs / timing.heartbeatMs);
      this.#seenAt.set(record.host, {
        revision: entry.revision,
        at,
        own: this.#ownBeats - (old ? beats : 0),
      });
    }
    this.#reshaped();
  }

  /** Calls `onChange` when the live peers, their addresses or the region order changed. */
  #reshaped() {
    const placement = this.placement();
    // Routing uses this order until the next call (placement.ts: it changes only on clear RTT differences).
    this.#ranks = rankRegions(placement, this.#ranks);
    const shape = JSON.stringify([
      [...placement.peers.values()]
        .map((peer) => [peer.host, peer.region, formatListen(peer.backhaul)])
        .sort(),
      this.#ranks,
    ]);
    if (shape === this.#lastShape) return;
    this.#lastShape = shape;
    this.#options.onChange();
  }

  #tick() {
    const { timing, signal } = this.#options;
    if (signal.aborted) return;
    this.#timer = setTimeout(async () => {
      await Promise.all([this.#probe(), this.#publish()]);
      this.#reshaped();
      this.#tick();
    }, timing.heartbeatMs);
  }

  async #probe() {
    const { agent, timing } = this.#options;
    await Promise.all(
      [...this.placement().peers.values()].map(async (peer) => {
        try {
          const rtt = await pingPeer(agent, peer.backhaul, PING_PATH, timing.heartbeatMs);
          const samples = [...(this.#samples.get(peer.host) ?? []), rtt].slice(-timing.rttWindow);
          this.#samples.set(peer.host, samples);
        } catch (error) {
          this.#options.log.debug({ peer: peer.host, err: errorMessage(error) }, 'RTT probe failed');
        }
      }),
    );
    const live = this.placement().peers;
    for (const host of this.#samples.keys()) if (!live.has(host)) this.#samples.delete(host);
  }

  async #publish() {
    const { store, host, region, advertise, log } = this.#options;
    const rtt_ms: Record<string, number> = {};
    for (const [peer, samples] of this.#samples) {
      const value = median(samples);
      if (value !== undefined) rtt_ms[peer] = Math.round(value * 100) / 100;
    }
    const record: ProxyRecord = {
      host,
      region,
      backhaul: advertise,
      version: nearbyVersion,
      heartbeat_at: new Date().toISOString(),
      rtt_ms,
    };
    try {
      await store.put(keys.proxy(host), record);
      if (this.#publishFailing) log.info('proxy record published again');
      this.#publishFailing = false;
    } catch (error) {
      // Fail static: routing goes on with what it knows; the record is retried at the next beat.
      if (!this.#publishFailing) log.warn({ err: errorMessage(error) }, 'could not publish the proxy record');
      this.#publishFailing = true;
    }
  }
}
