/**
 * The machines' resolver (docs/network.md, "Names inside machines"): runs in the agent, listens
 * on the machine bridge's gateway addresses, answers `.internal` names from a copy of the store
 * kept by watches, scoped to the asking machine's org, and forwards other names upstream.
 */
import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { type AppRecord, type HostRecord, keys, type MachineStatus, type ProxyRecord } from '../model/mod.ts';
import { StoreMirror } from '../proxy/store-mirror.ts';
import type { Store } from '../store/types.ts';
import { defaultMatrixFile, type RttMatrix, readRttMatrix } from '../world/matrix.ts';
import { buildDirectory, type Directory } from './directory.ts';
import { listenDns } from './listeners.ts';
import { bareReply, handleQuery } from './query.ts';
import { forwardQuery, systemUpstreams, type Upstream } from './upstream.ts';

export { type Asker, buildDirectory, type Directory } from './directory.ts';
export { type DnsErrorCode, dnsError } from './errors.ts';
export { parseUpstreams, systemUpstreams, type Upstream } from './upstream.ts';

export interface MachineResolverOptions {
  store: Store;
  /** This host: the askers are its machines. */
  host: string;
  region: string;
  /** The addresses machines reach it at: the bridge's gateway IPv4 and IPv6. */
  listen: readonly string[];
  /** 53 unless a test says otherwise (a machine's resolv.conf cannot name a port). */
  port?: number;
  /** Where other names go; default the host's /etc/resolv.conf. */
  upstreams?: readonly Upstream[];
  /** Region RTTs for `top<N>.nearest.of`; default `data/rtt-matrix.tsv` when present. */
  matrix?: RttMatrix;
  signal: AbortSignal;
  log: pino.Logger;
}

/** How stale a snapshot may get while nothing changes: host liveness moves with the clock alone. */
const SNAPSHOT_MAX_AGE_MS = 1_000;
/** A query that comes before the first full copy of the store waits this long, then gets SERVFAIL. */
const FIRST_SYNC_WAIT_MS = 2_000;

/**
 * Starts the resolver; resolves once it listens.
 * @throws NearbyError DNS_LISTEN_FAILED
 */
export async function startMachineResolver(options: MachineResolverOptions): Promise<void> {
  const { store, signal } = options;
  const log = options.log.child({ component: 'dns' });
  let snapshot: { directory: Directory; at: number } | undefined;
  const changed = () => {
    snapshot = undefined;
  };
  const mirror = <T>(prefix: string) => new StoreMirror<T>(store, prefix, signal, changed, log);
  const apps = mirror<AppRecord>(keys.apps());
  const hosts = mirror<HostRecord>(keys.hosts());
  const statuses = mirror<MachineStatus>(keys.machineStatuses());
  const proxy = mirror<ProxyRecord>(keys.proxy(options.host));
  const synced = Promise.all([apps.synced, hosts.synced, statuses.synced, proxy.synced]);
  const upstreams = options.upstreams ?? systemUpstreams('/etc/resolv.conf', options.listen);
  if (upstreams.length === 0)
    log.warn('no upstream resolver in /etc/resolv.conf: machines resolve only .internal names');
  const matrix = options.matrix ?? loadMatrix(log);

  const directory = () => {
    if (snapshot === undefined || Date.now() - snapshot.at > SNAPSHOT_MAX_AGE_MS)
      snapshot = {
        at: Date.now(),
        directory: buildDirectory({
          host: options.host,
          region: options.region,
          apps: apps.values(),
          hosts: hosts.values(),
          statuses: [...statuses.entries].map(([key, entry]) => ({
            host: key.split('/')[1],
            status: entry.value,
          })),
        }),
      };
    return snapshot.directory;
  };

  let ready = false;
  void synced.then(() => {
    ready = true;
  });
  await listenDns(
    options.listen,
    options.port ?? 53,
    async (query, peer, transport) => {
      if (!ready) await Promise.race([synced, delay(FIRST_SYNC_WAIT_MS)]);
      if (!ready) return query.length >= 12 ? bareReply(query, 'SERVFAIL') : undefined;
      // The prefix `proxies/<host>` also holds `proxies/<host>2`: this host's record by its exact key.
      const measured = proxy.entries.get(keys.proxy(options.host))?.value.rtt_ms;
      const outcome = handleQuery(query, peer, transport, {
        directory: directory(),
        distances: { ...(measured ? { measured } : {}), ...(matrix ? { matrix } : {}) },
      });
      if (outcome === undefined) return undefined;
      if ('reply' in outcome) {
        log.debug({ peer, name: outcome.name, rcode: outcome.rcode }, 'answered');
        return outcome.reply;
      }
      try {
        return await forwardQuery(query, upstreams, transport, { signal });
      } catch (error) {
        log.warn({ peer, name: outcome.name, err: errorMessage(error) }, 'forwarding failed');
        return bareReply(query, 'SERVFAIL');
      }
    },
    signal,
    log,
  );
  log.info({ listen: options.listen, port: options.port ?? 53, upstreams }, "machines' resolver listening");
}

function loadMatrix(log: pino.Logger): RttMatrix | undefined {
  if (!existsSync(defaultMatrixFile)) return undefined;
  try {
    return readRttMatrix();
  } catch (error) {
    log.warn(
      { err: errorMessage(error) },
      'the RTT matrix is unreadable: nearest names use measured RTTs only',
    );
    return undefined;
  }
}
