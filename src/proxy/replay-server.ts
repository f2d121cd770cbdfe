/**
 * The replayer (Node, in the proxy's process): HAProxy's Lua hands it a request whose answer said
 * `Fly-Replay` (POST /replay), or HAProxy sends it a request that names an instance or region
 * (`fly-force-instance-id` & co); it picks the machine from the store and returns its answer.
 * Only these requests touch Node; everything else stays in HAProxy.
 */
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
  type ServerResponse,
} from 'node:http';
import { type Agent, request as httpsRequest } from 'node:https';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { listenOnLoopback } from '../loopback-server.ts';
import type { AppRecord } from '../model/app.ts';
import type { CertRecord } from '../model/cert.ts';
import { keys } from '../model/keys.ts';
import type { MachineRecord, MachineStatus } from '../model/machine.ts';
import type { Store } from '../store/types.ts';
import type { MachineOfServer } from './autostop-stats.ts';
import { backhaulRequest } from './backhaul-client.ts';
import type { ListenAddress } from './haproxy-config.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { Location } from './placement.ts';
import {
  type Candidate,
  HOP_BY_HOP,
  parseHeaderBlock,
  parseReplay,
  pickTarget,
  replaySource,
} from './replay.ts';
import { BUFFERED_HEADER, forwardBuffered } from './replay-buffered.ts';
import { REPLAY_BODY_LIMIT } from './replay-config.ts';
import { httpPort, routableServer } from './routes.ts';

/** A replayed answer may ask for one more replay, and so on, this many times. */
const MAX_HOPS = 3;

export interface Replayer {
  host: string;
  port: number;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

/** A request to replay: what the client sent, which machine answered `Fly-Replay`, and the directive. */
export interface ReplayRequest {
  headers: [string, string][];
  body: Buffer;
  method: string;
  path: string;
  /** The machine id that answered with Fly-Replay. */
  source: string;
  sourceApp: string;
  /** The `Fly-Replay` header's value. */
  directive: string;
}

/** In a cluster: where each host's machines are reached from here, and the credential for the backhaul. */
export interface ReplayReach {
  /** Undefined: the host is down (its machines are not candidates). */
  locate: (host: string) => Location | undefined;
  agent: Agent;
}

async function candidates(store: Store, app: string, reach: ReplayReach | undefined): Promise<Candidate[]> {
  const records = (await store.list<MachineRecord>(keys.machines(app))).map((entry) => entry.value);
  const found: Candidate[] = [];
  for (const record of records) {
    const status = (await store.get<MachineStatus>(keys.machineStatus(record.host, record.id)))?.value;
    const server = routableServer(record, status);
    const port = httpPort(record.config);
    const location = reach === undefined ? { tier: 0 } : reach.locate(record.host);
    if (!server || !port || location === undefined) continue;
    const { tier, via } = location;
    found.push({
      id: record.id,
      region: record.region,
      address: server.address,
      port,
      tier,
      ...(via ? { via } : {}),
    });
  }
  return found;
}

/**
 * A request to the machine: straight to it, or through its host's backhaul, which hands a request
 * naming an instance to its own replayer (`fly-force-instance-id`), and that one sends it on.
 */
function open(
  target: Candidate,
  reach: ReplayReach | undefined,
  options: Omit<RequestOptions, 'headers'> & { headers: string[] },
  onAnswer: (answer: IncomingMessage) => void,
): ClientRequest {
  const via: ListenAddress | undefined = target.via;
  if (via === undefined || reach === undefined) {
    return httpRequest({ ...options, host: target.address, port: target.port }, onAnswer);
  }
  const headers: string[] = [];
  for (let i = 0; i < options.headers.length; i += 2) {
    if (options.headers[i].toLowerCase() !== 'fly-force-instance-id')
      headers.push(options.headers[i], options.headers[i + 1]);
  }
  headers.push('fly-force-instance-id', target.id);
  return httpsRequest(backhaulRequest(reach.agent, via, { ...options, headers }), onAnswer);
}

export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit + 64 * 1024) request.destroy(new Error('request too large'));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function send(
  target: Candidate,
  reach: ReplayReach | undefined,
  method: string,
  path: string,
  headers: [string, string][],
  body: Buffer,
) {
  return new Promise<Answer>((resolve, reject) => {
    const outgoing = open(
      target,
      reach,
      {
        method,
        path,
        headers: [...headers.flat(), 'content-length', String(body.length)],
        // Answers are read as leniently as HAProxy reads them (bare LF line ends from CGI servers).
        insecureHTTPParser: true,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const pairs: [string, string][] = [];
          for (let i = 0; i < response.rawHeaders.length; i += 2) {
            const name = response.rawHeaders[i].toLowerCase();
            if (!HOP_BY_HOP.has(name)) pairs.push([name, response.rawHeaders[i + 1]]);
          }
          resolve({ status: response.statusCode ?? 502, headers: pairs, body: Buffer.concat(chunks) });
        });
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(60_000, () => outgoing.destroy(new Error('the machine did not answer within 60 s')));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function reply(response: ServerResponse, answer: Answer) {
  const flat = answer.headers.flat();
  response.writeHead(answer.status, [...flat, 'content-length', String(answer.body.length)]);
  response.end(answer.body);
}

const plain = (status: number, message: string): Answer => ({
  status,
  headers: [['content-type', 'text/plain; charset=utf-8']],
  body: Buffer.from(`${status} ${message}\n`),
});

export async function startReplayer(options: {
  store: Store;
  region: string;
  appsDomain: string;
  metrics: ProxyMetrics;
  /** The machine behind a server slot. */
  machineOf: MachineOfServer;
  /** HAProxy's internal frontend for requests whose body this replayer buffered (replay-buffered.ts). */
  bufferedSocket: string;
  /** The loopback port to take when free (the one a running HAProxy names); else any. */
  port?: number;
  /** In a cluster: machines on other hosts are reached through their proxy. */
  reach?: ReplayReach;
  log: pino.Logger;
}): Promise<Replayer> {
  const { store, region, metrics, reach } = options;
  const log = options.log.child({ component: 'replay' });

  /** POST /replay from the Lua action: the request as HAProxy kept it, and the directive. */
  async function replayFromLua(request: IncomingMessage): Promise<Answer> {
    const all = await readBody(request, REPLAY_BODY_LIMIT);
    const headLength = Number(request.headers['x-nearby-head-length'] ?? 0);
    const slot = String(request.headers['x-nearby-instance'] ?? '');
    return replay({
      headers: parseHeaderBlock(all.subarray(0, headLength).toString('latin1')),
      body: all.subarray(headLength),
      method: String(request.headers['x-nearby-method'] ?? 'GET'),
      path: String(request.headers['x-nearby-path'] ?? '/'),
      source: options.machineOf(String(request.headers['x-nearby-backend'] ?? ''), slot) ?? slot,
      sourceApp: String(request.headers['x-nearby-app'] ?? ''),
      directive: String(request.headers['x-nearby-replay'] ?? ''),
    });
  }

  /** Sends a request whose answer said `Fly-Replay` where the directive asks; returns the final answer. */
  async function replay(request: ReplayRequest): Promise<Answer> {
    const { headers, method, path, sourceApp } = request;
    let { body, source } = request;
    let directive = parseReplay(request.directive);
    for (let hop = 0; ; hop++) {
      const app = directive.app ?? sourceApp;
      if (!app) return plain(502, 'Fly-Replay: the app of this request is unknown');
      if (app !== sourceApp && !(await sameOrg(app, sourceApp))) {
        metrics.replays.inc({ app: sourceApp, result: 'refused' });
        return plain(403, `Fly-Replay: app ${sourceApp} may only replay to apps of its own organization`);
      }
      // Within one region, region= names this one (or none we serve: then it is refused).
      const regions = directive.regions;
      const picked = pickTarget(
        await candidates(store, app, reach),
        {
          instance: directive.instance,
          forceInstance: directive.instance !== undefined,
          regions,
          forceRegion: regions.length > 0 && !regions.includes(region),
          exclude: directive.elsewhere ? source : undefined,
        },
        app,
      );
      if ('status' in picked) {
        metrics.replays.inc({ app: sourceApp, result: 'no_target' });
        return plain(picked.status, `Fly-Replay: ${picked.message}`);
      }
      const src = replaySource(source, region, directive.state);
      const sent = headers.filter(([name]) => name !== 'fly-replay-src').concat([['fly-replay-src', src]]);
      const answer = await send(picked.target, reach, method, path, sent, body);
      metrics.replays.inc({ app: sourceApp, result: 'replayed' });
      log.info({ app, from: source, to: picked.target.id, status: answer.status, hop }, 'request replayed');
      const next = answer.headers.find(([name]) => name === 'fly-replay');
      if (next === undefined) {
        return { ...answer, headers: [...answer.headers, ['fly-replay-src', src]] };
      }
      if (hop + 1 >= MAX_HOPS)
        return plain(508, `Fly-Replay: replayed ${MAX_HOPS} times; giving up (a loop?)`);
      directive = parseReplay(next[1]);
      source = picked.target.id;
      body = Buffer.from(body);
    }
  }

  async function sameOrg(app: string, other: string): Promise<boolean> {
    const [one, two] = await Promise.all([
      store.get<AppRecord>(keys.app(app)),
      store.get<AppRecord>(keys.app(other)),
    ]);
    return one !== undefined && two !== undefined && one.value.org_slug === two.value.org_slug;
  }

  /** The app a request's Host names: `<app>.<appsDomain>`, or a custom domain with a certificate. */
  async function appOf(host: string): Promise<string | undefined> {
    const name = host.split(':')[0].toLowerCase();
    const suffix = `.${options.appsDomain}`;
    if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
    return (await store.get<CertRecord>(keys.cert(name)))?.value.app;
  }

  /** A request naming an instance or a region: streamed to the machine picked. */
  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const app = await appOf(String(request.headers.host ?? ''));
    if (app === undefined) return reply(response, plain(404, 'no app answers at this host name'));
    const header = (name: string) => {
      const value = request.headers[name];
      return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
    };
    const forceInstance = header('fly-force-instance-id');
    const forceRegion = header('fly-force-region');
    const regions = (forceRegion ?? header('fly-prefer-region') ?? '').split(',').filter(Boolean);
    const picked = pickTarget(
      await candidates(store, app, reach),
      {
        instance: forceInstance ?? header('fly-prefer-instance-id'),
        forceInstance: forceInstance !== undefined,
        regions,
        forceRegion: forceRegion !== undefined,
      },
      app,
    );
    if ('status' in picked) return reply(response, plain(picked.status, picked.message));
    const headers: string[] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i].toLowerCase();
      if (!HOP_BY_HOP.has(name) || name === 'content-length' || name === 'transfer-encoding') {
        headers.push(request.rawHeaders[i], request.rawHeaders[i + 1]);
      }
    }
    const outgoing = open(
      picked.target,
      reach,
      {
        method: request.method,
        path: request.url,
        headers,
        insecureHTTPParser: true,
      },
      (answer) => {
        const pairs: string[] = [];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          const name = answer.rawHeaders[i].toLowerCase();
          if (!HOP_BY_HOP.has(name) || name === 'content-length' || name === 'transfer-encoding') {
            pairs.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
          }
        }
        response.writeHead(answer.statusCode ?? 502, pairs);
        answer.pipe(response);
      },
    );
    outgoing.on('error', (error) => {
      if (!response.headersSent)
        reply(response, plain(502, `machine ${picked.target.id} failed: ${error.message}`));
      else response.destroy();
    });
    request.pipe(outgoing);
  }

  const server = createServer((request, response) => {
    let work: Promise<void>;
    if (request.url === '/replay' && request.headers['x-nearby-replay'] !== undefined) {
      work = replayFromLua(request).then((answer) => reply(response, answer));
    } else if (request.headers[BUFFERED_HEADER] !== undefined) {
      work = forwardBuffered(request, response, {
        socketPath: options.bufferedSocket,
        machineOf: options.machineOf,
        replay: (input) => replay(input).then((answer) => reply(response, answer)),
      });
    } else {
      work = route(request, response);
    }
    work.catch((error) => {
      log.warn({ err: errorMessage(error) }, 'replay failed');
      if (!response.headersSent) reply(response, plain(502, `replay failed: ${errorMessage(error)}`));
      else response.destroy();
    });
  });
  return listenOnLoopback(server, 10_000, options.port);
}
