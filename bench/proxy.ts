/**
 * `npm run bench -- proxy`: what nearby's edge proxy costs, against references measured in the same
 * run on this machine. Upstream: the `hello` test machine deployed by nearby. wrk (HTTP/1.1 keep-
 * alive, small responses) against it directly; through nearby's proxy with everything on (headers,
 * request ids, access log, metrics); through a plain nginx and a plain HAProxy configured alike
 * (same threads, keep-alive to the upstream); and through plain HAProxy plus nearby's header rules
 * and request id (no logging), which splits what nearby adds into rules and logging; and through
 * nginx doing the same work per request (headers, request id, a JSON access line), like for like. Then p99
 * at a fixed rate (half nginx's peak) and, when nearby serves TLS, h2load over HTTP/2 + TLS. Then new
 * TLS connections per second (a full handshake and one request each, HTTP/1.1 and HTTP/2) through
 * nearby, nginx doing nearby's work and plain HAProxy, all on the same certificate and key.
 * nearby runs as one host of a cluster (its store on NATS, its backhaul on, and an app whose only
 * machine is on another host, whose proxy runs in this process), so its HAProxy has the
 * configuration a cluster's proxy has.
 * Every measurement runs BENCH_ROUNDS times (3), interleaved; medians are reported. Prints
 * `name=value` lines and writes them under "## Proxy" in docs/perf.md.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { keys } from '../src/model/keys.ts';
import type { MachineRecord, MachineView } from '../src/model/mod.ts';
import { startProxy } from '../src/proxy/mod.ts';
import { runCommand } from '../src/run-command.ts';
import { NatsStore } from '../src/store/nats.ts';
import { selfSignedCert } from '../test/helpers/certs.ts';
import { helloImage } from '../test/helpers/images.ts';
import { reportedStatus } from '../test/helpers/machine-status.ts';
import { startNatsCluster } from '../test/helpers/nats.ts';
import { repoRoot, startNearby } from '../test/helpers/nearby.ts';
import { makeClusterCredential } from '../test/helpers/proxy-cluster.ts';
import { freePort, startRegistry } from '../test/helpers/registry.ts';

const run = promisify(execFile);
const DURATION = process.env.BENCH_DURATION ?? '10s';
const THREADS = 2; // wrk threads, HAProxy threads, nginx workers: the machine's 2 cores
const CONNECTIONS = 64;
const H2_CLIENTS = 32;
const H2_STREAMS = 10;
/** New TLS connections per handshake measurement: each an h2load client doing one request. */
const TLS_CLIENTS = Number(process.env.BENCH_TLS_CLIENTS ?? 2000);
const HOST = 'bench.localhost';
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
const figures: [string, string][] = [];
/** Other work on this host skews every figure: the load when the run began is written beside them. */
const loadAtStart = loadavg()[0];

/** Rounds of every measurement, interleaved so that drift on the host hits each alike; medians are reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  throw new Error(`BENCH_ROUNDS must be a whole number ≥ 1, not ${process.env.BENCH_ROUNDS}`);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Each measurement once per round, in the same order every round, each after `settle` (so that
 * work a measurement left behind is not counted against the next one).
 */
async function interleaved<T, K extends string>(
  measurements: Record<K, () => Promise<T>>,
  settle: () => Promise<void>,
): Promise<Record<K, T[]>> {
  const names = Object.keys(measurements) as K[];
  const results = Object.fromEntries(names.map((name) => [name, [] as T[]])) as Record<K, T[]>;
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of names) {
      await settle();
      results[name].push(await measurements[name]());
    }
  }
  return results;
}

/**
 * Waits (up to 10 s) until processes matching `group` are quiet: at most one CPU tick (10 ms) in
 * 300 ms. nearby ships the hello machine's log (a line per request) a little behind, and after a
 * fast run its backlog took ~150 ms of CPU in the next second — CPU that went to whichever proxy
 * was measured next.
 */
async function quiet(group: CpuGroup): Promise<void> {
  const deadline = Date.now() + 10_000;
  let before = await cpuTicks(group.matches, group.descendants);
  while (Date.now() < deadline) {
    await delay(300);
    const now = await cpuTicks(group.matches, group.descendants);
    if (now - before <= 1) return;
    before = now;
  }
}

function report(name: string, value: number, digits = 2) {
  const text = value.toFixed(digits);
  figures.push([name, text]);
  process.stdout.write(`${name}=${text}\n`);
}

function toMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) throw new Error(`unreadable wrk latency '${text}'`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(match[1]) * scale;
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of each group of processes asked about, per request (µs): steadier than rates on a busy host. */
  cpu: Record<string, number>;
}

/** Processes whose command line matches, and their descendants (nginx's workers). */
async function cpuTicks(matches: (cmdline: string) => boolean, descendants = true): Promise<number> {
  const procs: { pid: number; ppid: number; ticks: number; cmdline: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (in parentheses): state ppid … utime(14) stime(15).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      procs.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]),
        cmdline,
      });
    } catch {
      // Gone while reading.
    }
  }
  const chosen = new Set(procs.filter((proc) => matches(proc.cmdline)).map((proc) => proc.pid));
  for (let grew = descendants; grew; ) {
    grew = false;
    for (const proc of procs) {
      if (!chosen.has(proc.pid) && chosen.has(proc.ppid)) {
        chosen.add(proc.pid);
        grew = true;
      }
    }
  }
  return procs.filter((proc) => chosen.has(proc.pid)).reduce((sum, proc) => sum + proc.ticks, 0);
}
const TICK_US = 10_000; // USER_HZ 100

/** Processes whose command line matches (with their descendants unless `descendants` is false). */
interface CpuGroup {
  matches: (cmdline: string) => boolean;
  descendants?: boolean;
}

async function wrk(
  url: string,
  options: {
    host?: string;
    paceMs?: number;
    connections?: number;
    cpu?: Record<string, CpuGroup>;
  } = {},
) {
  const args = [
    '-t',
    String(THREADS),
    '-c',
    String(options.connections ?? CONNECTIONS),
    '-d',
    DURATION,
    '--latency',
  ];
  if (options.host) args.push('-H', `Host: ${options.host}`);
  if (options.paceMs !== undefined) args.push('-s', join(import.meta.dirname, 'wrk-pace.lua'));
  const groups = Object.entries(options.cpu ?? {});
  const before = await Promise.all(groups.map(([, group]) => cpuTicks(group.matches, group.descendants)));
  const { stdout } = await run('wrk', [...args, url], {
    env: { ...process.env, NEARBY_BENCH_DELAY_MS: String(options.paceMs ?? 0) },
    maxBuffer: 1 << 20,
  });
  const after = await Promise.all(groups.map(([, group]) => cpuTicks(group.matches, group.descendants)));
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const cpu = Object.fromEntries(
    groups.map(([name], i) => [name, requests > 0 ? ((after[i] - before[i]) * TICK_US) / requests : 0]),
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1] ?? '');
  const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  if (!Number.isFinite(rps)) throw new Error(`wrk printed no rate:\n${stdout}`);
  return { rps, p50, p99, errors, cpu } satisfies WrkResult;
}

async function h2load(url: string, connectTo: string): Promise<number> {
  const { stdout } = await run(
    'h2load',
    [
      '-c',
      String(H2_CLIENTS),
      '-m',
      String(H2_STREAMS),
      '-t',
      String(THREADS),
      '-D',
      DURATION.replace(/s$/, ''),
      `--connect-to=${connectTo}`,
      url,
    ],
    { maxBuffer: 1 << 20 },
  );
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout)?.[1]);
  const failed = Number(/requests: .* (\d+) failed/.exec(stdout)?.[1] ?? 0);
  const non2xx = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/
    .exec(stdout)
    ?.slice(1)
    .map(Number) ?? [1];
  // A timed run stops with requests in flight (at most clients × streams): those count as failed.
  if (!Number.isFinite(rps) || failed > H2_CLIENTS * H2_STREAMS || non2xx.some((n) => n > 0)) {
    throw new Error(`h2load failed:\n${stdout}`);
  }
  return rps;
}

/**
 * New TLS connections per second through the proxy on `port`, each a full handshake and one
 * request: `TLS_CLIENTS` h2load clients each open one connection (h2load resumes no session
 * across clients) and send one request, over HTTP/1.1 (ALPN http/1.1) or HTTP/2 (ALPN h2).
 * Also the CPU of the proxy's processes per connection.
 */
async function handshakes(port: number, protocol: 'h1' | 'h2', cpu: CpuGroup) {
  const args = [
    '-c',
    String(TLS_CLIENTS),
    '-n',
    String(TLS_CLIENTS),
    '-t',
    String(THREADS),
    ...(protocol === 'h1' ? ['--h1'] : []),
    `--connect-to=127.0.0.1:${port}`,
    `https://${HOST}:${port}/`,
  ];
  const before = await cpuTicks(cpu.matches, cpu.descendants);
  const { stdout } = await run('h2load', args, { maxBuffer: 1 << 20 });
  const after = await cpuTicks(cpu.matches, cpu.descendants);
  const rate = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout)?.[1]);
  const succeeded = Number(/requests: .* (\d+) succeeded/.exec(stdout)?.[1] ?? 0);
  const alpn = /Application protocol: (\S+)/.exec(stdout)?.[1];
  const wanted = protocol === 'h1' ? 'http/1.1' : 'h2';
  if (!Number.isFinite(rate) || succeeded !== TLS_CLIENTS || alpn !== wanted || !/TLSv1\.3/.test(stdout)) {
    throw new Error(`h2load ${args.join(' ')}: not ${TLS_CLIENTS} TLS 1.3 ${wanted} requests:\n${stdout}`);
  }
  return { rate, cpuUs: ((after - before) * TICK_US) / TLS_CLIENTS };
}

/** Starts a child, remembers to stop it. */
function daemon(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  child.once('exit', (code) => {
    if (code !== 0 && code !== null && !stopping)
      process.stderr.write(`${command} exited ${code}: ${stderr}\n`);
  });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, delay(5000)]);
  });
  return child;
}
let stopping = false;

async function waitHttp(url: string, host?: string) {
  for (let i = 0; i < 200; i++) {
    const result = await runCommand('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      ...(host ? ['-H', `Host: ${host}`] : []),
      url,
    ]);
    if (result.stdout === '200') return;
    await delay(100);
  }
  throw new Error(`${url} did not answer 200`);
}

/** What a host of a cluster needs: the store's NATS cluster and the backhaul's credential. */
interface ClusterSetup {
  natsUrls: string[];
  credential: { certFile: string; caFile: string };
}

/**
 * `nearby server` with its log in a file (an access-log line per request would fill memory), as a
 * host of a cluster: its store on NATS and its backhaul on, so its HAProxy runs the configuration
 * a cluster's proxy runs (mutual-TLS defaults in every app backend, the backhaul frontends).
 */
async function startServer(dir: string, cluster: ClusterSetup) {
  const metricsPort = await freePort();
  const nearby = await startNearby(hooks, {
    logFile: join(dir, 'server.log'),
    args: [
      '--metrics-listen',
      `127.0.0.1:${metricsPort}`,
      '--nats',
      cluster.natsUrls.join(','),
      '--backhaul-listen',
      `127.0.0.1:${await freePort()}`,
      '--backhaul-cert',
      cluster.credential.certFile,
      '--backhaul-ca',
      cluster.credential.caFile,
    ],
  });
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const { status, body: answer } = await nearby.api<T>(method, path, body);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(answer)}`);
    return answer;
  };
  return {
    api,
    proxyPort: nearby.proxyPort,
    tlsPort: nearby.tlsPort,
    metricsPort,
    dataDir: nearby.dataDir,
    hostName: nearby.hostName,
  };
}

/**
 * Another host of the cluster (its proxy, in this process, region ams) and an app `far` whose only
 * machine runs there: nearby's HAProxy then has a backend whose slot points at another host's
 * backhaul, as a cluster's does. `upstream` answers for that machine (the hello machine).
 */
async function startFarHost(dir: string, cluster: ClusterSetup, ipv4: string) {
  const store = await NatsStore.open({ servers: cluster.natsUrls });
  cleanups.push(() => store.close());
  const proxy = startProxy({
    store,
    region: 'ams',
    host: 'bench-far',
    dataDir: join(dir, 'far-host'),
    appsDomain: 'localhost',
    httpListen: `127.0.0.1:${await freePort()}`,
    tlsListen: `127.0.0.1:${await freePort()}`,
    backhaul: { listen: `127.0.0.1:${await freePort()}`, ...cluster.credential },
    log: pino({ level: 'silent' }),
  });
  cleanups.push(() => proxy.stop());
  await proxy.ready;
  const now = new Date().toISOString();
  const record: MachineRecord = {
    id: 'farmachine1',
    name: `${FAR_APP}-1`,
    app: FAR_APP,
    region: 'ams',
    host: 'bench-far',
    instance_id: '01INSTANCE1',
    config: {
      image: 'registry.nearby.local/hello:latest',
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
    },
    image_ref: { registry: 'registry.nearby.local', repository: 'hello', tag: 'latest', digest: 'sha256:00' },
    desired: { state: 'started', seq: 1 },
    events: [],
    created_at: now,
    updated_at: now,
  };
  await store.put(keys.machine(FAR_APP, record.id), record);
  await store.put(keys.machineStatus('bench-far', record.id), reportedStatus(record, 'started', ipv4));
}
const FAR_APP = 'far';

async function selfSigned(dir: string): Promise<string> {
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  await selfSignedCert([HOST], { certFile: cert, keyFile: key });
  const pem = join(dir, 'tls.pem');
  await writeFile(pem, (await readFile(cert, 'utf8')) + (await readFile(key, 'utf8')));
  return pem;
}

/** The `Via` the far app's machine sees through nearby's proxy: its request crossed the backhaul. */
async function farVia(nearbyUrl: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 300; i++) {
    const host = `Host: ${FAR_APP}.localhost`;
    const result = await runCommand('curl', ['-s', '-i', '-H', host, `${nearbyUrl}headers`]);
    const via = [...result.stdout.matchAll(/^via: *(.*?)\r?$/gim)].map((match) => match[1]).join(', ');
    if (result.stdout.startsWith('HTTP/1.1 200') && via.includes('bench-far')) return via;
    last = result.stdout;
    await delay(100);
  }
  throw new Error(`${FAR_APP}.localhost was not answered through the other host's backhaul:\n${last}`);
}

/** Until the TLS listener on `port` serves `certPem` for the bench's host name. */
async function waitCertificate(port: number, certPem: string): Promise<void> {
  const fingerprint = async (input: string) =>
    (await runCommand('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input })).stdout.trim();
  const want = await fingerprint(certPem);
  for (let i = 0; i < 200; i++) {
    const served = await runCommand(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', HOST],
      { input: '' },
    );
    if ((await fingerprint(served.stdout)) === want) return;
    await delay(100);
  }
  throw new Error(`nearby's TLS listener never served the uploaded certificate for ${HOST}`);
}

/** What every reference proxy is started with. */
interface ReferenceSetup {
  dir: string;
  /** The machine, `address:port`. */
  upstream: string;
  /** Certificate and key for its TLS port. */
  pem: string;
}

/** A reference proxy, running: where to send requests and how to find its processes. */
interface Reference {
  url: string;
  tlsPort: number;
  cpu: CpuGroup;
}

/** Waits until the proxy started with `config` answers on `port`. */
async function reference(config: string, port: number, tlsPort: number): Promise<Reference> {
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(url);
  return { url, tlsPort, cpu: { matches: (cmdline) => cmdline.includes(config) } };
}

/**
 * nginx; with `work`, also what nearby's proxy does per request (the same added headers, a
 * request id, a JSON access-log line written per request to a file), as a like-for-like reference.
 */
async function startNginx(setup: ReferenceSetup, name: string, work: boolean): Promise<Reference> {
  const { dir, upstream, pem } = setup;
  const [port, tlsPort] = [await freePort(), await freePort()];
  const root = join(dir, name);
  await mkdir(root, { recursive: true });
  const config = join(root, 'nginx.conf');
  await writeFile(
    config,
    `worker_processes ${THREADS};
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections 4096; }
http {
${
  work
    ? `  log_format json escape=json '{"level":30,"time":$msec,"region":"fra","component":"access","request_id":"$request_id-fra","app":"bench","backend":"app","machine":"$upstream_addr","status":$status,"method":"$request_method","path":"$request_uri","http_version":"$server_protocol","client_ip":"$remote_addr","bytes":$bytes_sent,"timing":{"request_ms":$request_time,"connect_ms":$upstream_connect_time,"response_ms":$upstream_response_time},"msg":"$request_method $request_uri $status"}';
  access_log ${root}/access.log json;
  map $https $forwarded_ssl { on on; default off; }`
    : '  access_log off;'
}
  # HAProxy has no per-connection request limit; nginx closes after 1000 requests by default.
  keepalive_requests 1000000;
  client_body_temp_path ${root}/body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;
  upstream app { server ${upstream}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    # As many waiting connections as HAProxy's listeners take (its maxconn): the TLS handshake
    # measurement opens hundreds at once.
    listen 127.0.0.1:${tlsPort} ssl http2 backlog=4096;
    ssl_certificate ${pem};
    ssl_certificate_key ${pem};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;${
        work
          ? `
      proxy_set_header Fly-Client-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-SSL $forwarded_ssl;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header Fly-Forwarded-Port $server_port;
      proxy_set_header Fly-Region fra;
      proxy_set_header Fly-Request-Id $request_id-fra;
      proxy_set_header Via "1.1 nearby";`
          : ''
      }
    }
  }
}
`,
  );
  daemon('nginx', ['-p', root, '-c', config, '-g', 'daemon off;']);
  return reference(config, port, tlsPort);
}

/** Plain HAProxy; with `rules`, also nearby's request rules (request id, headers), still no logging. */
async function startHaproxy(setup: ReferenceSetup, name: string, rules: boolean): Promise<Reference> {
  const { dir, upstream, pem } = setup;
  const [port, tlsPort] = [await freePort(), await freePort()];
  const root = join(dir, name);
  await mkdir(root, { recursive: true });
  const nearbyRules = [
    '  unique-id-format %[uuid()]-fra',
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    '  http-request set-header Fly-Client-IP %[src]',
    '  option forwardfor',
    '  http-request set-header X-Forwarded-Proto http',
    '  http-request set-header X-Forwarded-Port %[dst_port]',
    '  http-request set-header Fly-Forwarded-Port %[dst_port]',
    '  http-request set-header Fly-Region fra',
    '  http-request set-header Fly-Request-Id %[unique-id]',
    '  http-request add-header Via "1.1 nearby"',
  ];
  const config = join(root, 'haproxy.cfg');
  await writeFile(
    config,
    [
      'global',
      `  nbthread ${THREADS}`,
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout http-keep-alive 60s',
      'frontend web',
      `  bind 127.0.0.1:${port}`,
      `  bind 127.0.0.1:${tlsPort} ssl crt ${pem} alpn h2,http/1.1 ssl-min-ver TLSv1.2`,
      ...(rules ? nearbyRules : []),
      '  default_backend app',
      'backend app',
      '  balance leastconn',
      '  http-reuse safe',
      `  server machine ${upstream}`,
      '',
    ].join('\n'),
  );
  daemon('haproxy', ['-db', '-f', config]);
  return reference(config, port, tlsPort);
}

async function writePerf(lines: [string, string][]) {
  const file = join(repoRoot, 'docs', 'perf.md');
  const current = await readFile(file, 'utf8').catch(() => '# Performance\n');
  const section = [
    '## Proxy',
    '',
    `\`npm run bench -- proxy\`, ${new Date().toISOString().slice(0, 16)}Z, ${THREADS} cores, medians of ${ROUNDS} interleaved rounds (ratios taken within each round), wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} (HTTP/1.1 keep-alive, \`GET /\` of the hello machine, ~40 B); h2load over TLS when nearby serves it. nearby runs as a host of a cluster (NATS store, backhaul on, an app whose machine is on another host). p99 at a fixed rate of half nginx's peak (wrk paced by a Lua delay). New TLS connections: h2load -c${TLS_CLIENTS} -n${TLS_CLIENTS} (one request each, a full handshake each), same P-256 certificate for all. Load average when the run began: ${loadAtStart.toFixed(1)}; run on a quiet host for figures to compare.`,
    '',
    '```',
    ...lines.map(([name, value]) => `${name}=${value}`),
    '```',
    '',
  ].join('\n');
  // Only the figures are replaced: the analysis below them (### subsections) stays.
  const pattern = /^## Proxy\n[\s\S]*?^```\n[\s\S]*?^```\n/m;
  const next = pattern.test(current)
    ? current.replace(pattern, section)
    : `${current.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
}

try {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-bench-proxy-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const nats = await startNatsCluster(hooks);
  const credential = await makeClusterCredential();
  cleanups.push(() => credential.close());
  const cluster = { natsUrls: nats.urls, credential };
  const server = await startServer(dir, cluster);
  await server.api('POST', '/v1/apps', { app_name: 'bench' });
  const config = {
    image,
    // The machine's own line per request (hello logs each one) is the agent's work, not the
    // proxy's: shipped into NATS it cost ~35-47 µs of nearby's Node and more in nats-server per
    // request during every proxy's run, on the same two cores. Its stdout goes nowhere here.
    init: { entrypoint: ['/bin/sh', '-c', 'exec /hello > /dev/null'] },
    services: [
      {
        protocol: 'tcp',
        internal_port: 8080,
        ports: [
          { port: 80, handlers: ['http'] },
          { port: 443, handlers: ['tls', 'http'] },
        ],
      },
    ],
  };
  const machine = await server.api<MachineView>('POST', '/v1/apps/bench/machines', { config });
  await server.api('GET', `/v1/apps/bench/machines/${machine.id}/wait?state=started&timeout=60`);
  const ipv4 = (await server.api<MachineView>('GET', `/v1/apps/bench/machines/${machine.id}`)).nearby.ipv4;
  if (!ipv4) throw new Error('the machine has no IPv4 address');
  const upstream = `${ipv4}:8080`;
  const nearbyUrl = `http://127.0.0.1:${server.proxyPort}/`;
  await waitHttp(nearbyUrl, HOST);

  // The cluster's routing: an app whose machine is on another host, reached through its backhaul.
  await server.api('POST', '/v1/apps', { app_name: FAR_APP });
  await startFarHost(dir, cluster, ipv4);
  const via = await farVia(nearbyUrl);
  process.stdout.write(`# ${FAR_APP}.localhost through this host: Via ${via}\n`);

  const setup = { dir, upstream, pem: await selfSigned(dir) };
  // nearby's TLS listener serves the references' certificate and key for the bench's host name.
  const pemText = await readFile(setup.pem, 'utf8');
  const certPem = pemText.slice(0, pemText.indexOf('-----END CERTIFICATE-----') + 26);
  const keyPem = pemText.slice(certPem.length);
  await server.api('POST', '/v1/apps/bench/certificates', {
    hostname: HOST,
    cert_pem: certPem,
    key_pem: keyPem,
  });
  await waitCertificate(server.tlsPort, certPem);
  const nginx = await startNginx(setup, 'nginx', false);
  const nginxWork = await startNginx(setup, 'nginx-work', true);
  const haproxy = await startHaproxy(setup, 'haproxy', false);
  const rules = await startHaproxy(setup, 'haproxy-rules', true);

  // Warm every path once, then the peaks.
  for (const url of [`http://${upstream}/`, nginx.url, haproxy.url, nginxWork.url]) {
    await run('wrk', ['-t1', '-c4', '-d1s', url]);
  }
  for (const url of [nearbyUrl, rules.url]) {
    await run('wrk', ['-t1', '-c4', '-d1s', '-H', `Host: ${HOST}`, url]);
  }
  // HAProxy, and the cat that copies its access log to nearby's output (haproxy-output.ts).
  const nearbyHaproxy = {
    matches: (cmdline: string) =>
      cmdline.includes(join(server.dataDir, 'proxy', 'haproxy.cfg')) ||
      cmdline.includes(join(server.dataDir, 'proxy', 'access-log.fifo')),
  };
  const nearbyNode = {
    matches: (cmdline: string) => cmdline.includes(' server ') && cmdline.includes(` ${server.dataDir} `),
    descendants: false,
  };
  const settle = () => quiet(nearbyNode);
  // The nearby process runs the agent too, which ships the machine's log (a line per request):
  // its CPU is measured in every run, so what the proxy adds in Node shows as the difference.
  const peak = await interleaved(
    {
      direct: () => wrk(`http://${upstream}/`),
      nearby: () => wrk(nearbyUrl, { host: HOST, cpu: { proxy: nearbyHaproxy, node: nearbyNode } }),
      nginx: () => wrk(nginx.url, { cpu: { proxy: nginx.cpu, node: nearbyNode } }),
      haproxy: () => wrk(haproxy.url, { cpu: { proxy: haproxy.cpu, node: nearbyNode } }),
      rules: () => wrk(rules.url, { host: HOST }),
      nginxWork: () => wrk(nginxWork.url, { cpu: { proxy: nginxWork.cpu } }),
    },
    settle,
  );
  for (const [name, results] of Object.entries(peak)) {
    const errors = results.reduce((sum, result) => sum + result.errors, 0);
    if (errors > 0) throw new Error(`${name}: ${errors} errors or non-2xx answers`);
  }
  const rps = (name: keyof typeof peak) => median(peak[name].map((result) => result.rps));
  // A ratio is taken within each round (the same conditions for both), then the median.
  const ratio = (a: keyof typeof peak, b: keyof typeof peak) =>
    median(peak[a].map((result, i) => result.rps / peak[b][i].rps));
  const cpu = (name: keyof typeof peak, group: string) =>
    median(peak[name].map((result) => result.cpu[group]));
  report('proxy_rps_direct', rps('direct'), 0);
  report('proxy_rps_nearby', rps('nearby'), 0);
  report('proxy_rps_nginx', rps('nginx'), 0);
  report('proxy_rps_haproxy', rps('haproxy'), 0);
  report('proxy_rps_haproxy_with_nearby_rules', rps('rules'), 0);
  report('proxy_rps_ratio_vs_nginx', ratio('nearby', 'nginx'));
  report('proxy_rps_ratio_vs_haproxy', ratio('nearby', 'haproxy'));
  report('proxy_rps_ratio_rules_vs_haproxy', ratio('rules', 'haproxy'));
  // Like for like: nginx doing what nearby does per request (headers, request id, access log).
  report('proxy_rps_nginx_with_nearby_work', rps('nginxWork'), 0);
  report('proxy_rps_ratio_vs_nginx_with_nearby_work', ratio('nearby', 'nginxWork'));
  // CPU per request of each proxy's processes: what it costs, whatever else runs on the host.
  report('proxy_cpu_us_per_request_nearby_haproxy', cpu('nearby', 'proxy'), 1);
  report('proxy_cpu_us_per_request_nearby_node', cpu('nearby', 'node'), 1);
  report('proxy_cpu_us_per_request_haproxy', cpu('haproxy', 'proxy'), 1);
  report('proxy_cpu_us_per_request_nginx', cpu('nginx', 'proxy'), 1);
  report('proxy_cpu_us_per_request_nginx_with_nearby_work', cpu('nginxWork', 'proxy'), 1);
  report('proxy_cpu_us_per_request_node_during_haproxy', cpu('haproxy', 'node'), 1);
  report('proxy_cpu_us_per_request_node_during_nginx', cpu('nginx', 'node'), 1);

  // p99 at a fixed rate, half nginx's peak: each connection waits PACE_MS between requests.
  const paceMs = 5;
  const rate = rps('nginx') / 2;
  const connections = Math.max(4, Math.round((rate * paceMs) / 1000));
  const paced = await interleaved(
    {
      direct: () => wrk(`http://${upstream}/`, { paceMs, connections }),
      nearby: () => wrk(nearbyUrl, { host: HOST, paceMs, connections }),
      haproxy: () => wrk(haproxy.url, { paceMs, connections }),
      nginx: () => wrk(nginx.url, { paceMs, connections }),
    },
    settle,
  );
  const added = (name: keyof typeof paced) =>
    median(paced[name].map((result, i) => result.p99 - paced.direct[i].p99));
  report('proxy_fixed_rate_rps', median(paced.nearby.map((result) => result.rps)), 0);
  report('proxy_p99_direct_ms', median(paced.direct.map((result) => result.p99)), 3);
  report('proxy_p99_nearby_ms', median(paced.nearby.map((result) => result.p99)), 3);
  report('proxy_p99_added_ms', added('nearby'), 3);
  report('proxy_p99_added_haproxy_ms', added('haproxy'), 3);
  report('proxy_p99_added_nginx_ms', added('nginx'), 3);

  const h2 = (port: number) => () => h2load(`https://${HOST}:${port}/`, `127.0.0.1:${port}`);
  const h2Rates = await interleaved(
    {
      nearby: h2(server.tlsPort),
      nginx: h2(nginx.tlsPort),
      haproxy: h2(haproxy.tlsPort),
    },
    settle,
  );
  const h2Ratio = (other: keyof typeof h2Rates) =>
    median(h2Rates.nearby.map((value, i) => value / h2Rates[other][i]));
  report('proxy_h2_rps_nearby', median(h2Rates.nearby), 0);
  report('proxy_h2_rps_nginx', median(h2Rates.nginx), 0);
  report('proxy_h2_rps_haproxy', median(h2Rates.haproxy), 0);
  report('proxy_h2_rps_ratio_vs_nginx', h2Ratio('nginx'));
  report('proxy_h2_rps_ratio_vs_haproxy', h2Ratio('haproxy'));

  // New TLS connections (users' first request), against nginx doing nearby's work and plain HAProxy.
  const tls = (port: number, protocol: 'h1' | 'h2', group: CpuGroup) => () =>
    handshakes(port, protocol, group);
  const tlsRates = await interleaved(
    {
      nearbyH1: tls(server.tlsPort, 'h1', nearbyHaproxy),
      nginxH1: tls(nginxWork.tlsPort, 'h1', nginxWork.cpu),
      haproxyH1: tls(haproxy.tlsPort, 'h1', haproxy.cpu),
      nearbyH2: tls(server.tlsPort, 'h2', nearbyHaproxy),
      nginxH2: tls(nginxWork.tlsPort, 'h2', nginxWork.cpu),
      haproxyH2: tls(haproxy.tlsPort, 'h2', haproxy.cpu),
    },
    settle,
  );
  const tlsRatio = (a: keyof typeof tlsRates, b: keyof typeof tlsRates) =>
    median(tlsRates[a].map((result, i) => result.rate / tlsRates[b][i].rate));
  for (const protocol of ['h1', 'h2'] as const) {
    const suffix = protocol === 'h1' ? 'H1' : 'H2';
    for (const name of ['nearby', 'nginx', 'haproxy'] as const) {
      const results = tlsRates[`${name}${suffix}`];
      const label = name === 'nginx' ? 'nginx_with_nearby_work' : name;
      report(`proxy_tls_handshakes_${protocol}_${label}`, median(results.map((result) => result.rate)), 0);
      report(
        `proxy_tls_cpu_us_per_handshake_${protocol}_${label}`,
        median(results.map((result) => result.cpuUs)),
        0,
      );
    }
    report(`proxy_tls_handshakes_ratio_vs_nginx_${protocol}`, tlsRatio(`nearby${suffix}`, `nginx${suffix}`));
    report(
      `proxy_tls_handshakes_ratio_vs_haproxy_${protocol}`,
      tlsRatio(`nearby${suffix}`, `haproxy${suffix}`),
    );
  }
  // The goal holds only if it holds for both protocols: the lower of the two.
  report(
    'proxy_tls_handshakes_ratio_vs_nginx',
    Math.min(tlsRatio('nearbyH1', 'nginxH1'), tlsRatio('nearbyH2', 'nginxH2')),
  );
  await writePerf(figures);
  process.stdout.write('written to docs/perf.md under "## Proxy"\n');
} finally {
  stopping = true;
  for (const cleanup of cleanups.reverse())
    await Promise.resolve(cleanup()).catch((error) => process.stderr.write(`cleanup: ${error}\n`));
}
