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
  /** HAProxy's internal frontend, where the replayer sends requests whose body it holds. */
  bufferedSocket: string;
}

/** The largest request body a Fly-Replay can resend; larger ones get a 413 saying so. */
export const REPLAY_BODY_LIMIT = 1024 * 1024;
/** Set by HAProxy on a request whose body the replayer should hold: the backend it goes to. */
export const BUFFERED_HEADER = 'x-nearby-backend';
/** Set by the internal frontend on answers: the server slot that answered. */
export const SLOT_HEADER = 'x-nearby-slot';

const quote = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

export function replayGlobalLines(target: ReplayerTarget): string[] {
  return [
    `  setenv NEARBY_REPLAYER ${formatListen(target.address)}`,
    `  lua-load-per-thread ${quote(target.lua)}`,
  ];
}

/**
 * For every HTTP frontend: keep what a replay needs, hand Fly-Replay answers to Lua.
 * `deleteOwnHeaders`: delete the two headers only HAProxy may send the replayer (public
 * frontends delete every `x-nearby-` header of a client in one rule before these lines).
 */
export function replayFrontendLines(deleteOwnHeaders: boolean): string[] {
  const hasBody = '{ req.hdr_val(content-length) gt 0 }';
  return [
    // Only HAProxy's Lua may talk to the replayer as a replay, and only HAProxy asks it to buffer.
    ...(deleteOwnHeaders
      ? ['  http-request del-header x-nearby-replay', `  http-request del-header ${BUFFERED_HEADER}`]
      : []),
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

/**
 * A body HAProxy could not hold in its buffer (it holds what arrived within `wait-for-body`),
 * up to REPLAY_BODY_LIMIT: the replayer holds it instead, so that a Fly-Replay can resend it.
 * `backend`: the backend the request would go to (a sample expression).
 */
function bufferedLines(backend: string): string[] {
  const partial = `{ var(txn.nb_length) -m int le ${REPLAY_BODY_LIMIT} } { req.body_len,sub(txn.nb_length) lt 0 }`;
  return [
    `  http-request set-header ${BUFFERED_HEADER} %[${backend}] if ${partial}`,
    `  use_backend nearby_replay if { req.hdr(${BUFFERED_HEADER}) -m found }`,
  ];
}

/** For a dedicated HTTP port: only the buffering of bodies (instance headers route on shared ports). */
export function dedicatedReplayLines(backend: string): string[] {
  return bufferedLines(`str(${backend})`);
}

/**
 * `region`: requests forcing this very region need no detour. `hostsMap`: where the shared
 * ports find a host's backend. `use_backend` lines: after every `http-request` rule (HAProxy
 * warns otherwise).
 */
export function replayRoutingLines(region: string, hostsMap: string): string[] {
  return [
    ...bufferedLines(`var(txn.host),map(${quote(hostsMap)},nearby_no_app)`),
    // HAProxy 2.6 cannot pick a server by a value from the request: these rare requests
    // go through the replayer, which picks the machine (docs/certs.md, "Routing controls").
    `  use_backend nearby_replay if { req.hdr(fly-force-instance-id) -m found } || { req.hdr(fly-prefer-instance-id) -m found } || { req.hdr(fly-force-region) -m found } !{ req.hdr(fly-force-region) -m str ${region} } || { req.hdr(fly-prefer-region) -m found } !{ req.hdr(fly-prefer-region) -m str ${region} }`,
  ];
}

export function replaySections(target: ReplayerTarget, accessLog: string[]): string[] {
  return [
    '',
    'backend nearby_replay',
    `  server replayer ${formatListen(target.address)}`,
    '',
    // The replayer sends requests whose body it holds back in here, to the backend HAProxy named.
    'frontend nearby_buffered',
    `  bind ${quote(`unix@${target.bufferedSocket}`)} mode 600`,
    ...accessLog,
    // The same request id as the request the client sent.
    '  unique-id-format %[req.hdr(fly-request-id)]',
    `  http-request set-var(txn.nb_backend) req.hdr(${BUFFERED_HEADER})`,
    `  http-request del-header ${BUFFERED_HEADER}`,
    `  http-response set-header ${SLOT_HEADER} %[srv_name]`,
    '  use_backend %[var(txn.nb_backend)]',
    '  default_backend nearby_no_app',
  ];
}
