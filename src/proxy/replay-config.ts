/**
 * The HAProxy lines behind routing controls (replay.ts): keep each request's head and (small)
 * body in variables, hand responses carrying `Fly-Replay` to the Lua action, and send requests
 * that name an instance or another region to the replayer. Nothing here runs Lua for a request
 * without those headers.
 */
import { formatListen, type ListenAddress } from './haproxy-config.ts';

export interface ReplayerTarget {
  address: ListenAddress;
  /** Path of replay.lua in the proxy's directory. */
  lua: string;
}

const quote = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

export function replayGlobalLines(target: ReplayerTarget): string[] {
  return [
    `  setenv NEARBY_REPLAYER ${formatListen(target.address)}`,
    `  lua-load-per-thread ${quote(target.lua)}`,
  ];
}

/** For every HTTP frontend: keep what a replay needs, hand Fly-Replay answers to Lua. */
export function replayFrontendLines(): string[] {
  const hasBody = '{ req.hdr_val(content-length) gt 0 }';
  return [
    // Only HAProxy's Lua may talk to the replayer as a replay.
    '  http-request del-header x-nearby-replay',
    // A body is replayed when HAProxy holds all of it (it waits briefly for it to arrive).
    `  http-request wait-for-body time 1s if ${hasBody}`,
    '  http-request set-var(txn.nb_method) method',
    '  http-request set-var(txn.nb_path) pathq',
    '  http-request set-var(txn.nb_head) req.hdrs',
    `  http-request set-var(txn.nb_length) req.hdr_val(content-length) if ${hasBody}`,
    `  http-request set-var(txn.nb_body) req.body if ${hasBody}`,
    // A body without a Content-Length is never replayed (nor silently dropped): Lua says so.
    '  http-request set-var(txn.nb_chunked) str(1) if { req.hdr(transfer-encoding) -m found }',
    '  http-response lua.nearby_replay if { res.hdr(fly-replay) -m found }',
  ];
}

/** `region`: requests forcing this very region need no detour. `use_backend` lines: after every `http-request` rule (HAProxy warns otherwise). */
export function replayRoutingLines(region: string): string[] {
  return [
    // HAProxy 2.6 cannot pick a dynamic server by a value from the request: these rare requests
    // go through the replayer, which picks the machine (docs/certs.md, "Routing controls").
    `  use_backend nearby_replay if { req.hdr(fly-force-instance-id) -m found } || { req.hdr(fly-prefer-instance-id) -m found } || { req.hdr(fly-force-region) -m found } !{ req.hdr(fly-force-region) -m str ${region} }`,
  ];
}

export function replaySections(target: ReplayerTarget): string[] {
  return ['', 'backend nearby_replay', `  server replayer ${formatListen(target.address)}`];
}
