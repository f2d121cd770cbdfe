/** `nearby world up|status|run|down`: regions at measured distances on this host, for tests and demos. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import {
  bringUp,
  defaultWorldDir,
  loadState,
  measureLinks,
  planWorld,
  readRttMatrix,
  statusJson,
  takeDown,
  worldError,
} from '../../world/mod.ts';
import { type Command, usageError } from '../command.ts';

const dirOption = { dir: { type: 'string' as const } };
const worldDir = (values: Record<string, unknown>) =>
  resolve((values.dir as string | undefined) ?? process.env.NEARBY_WORLD_DIR ?? defaultWorldDir);
const cityList = (value: unknown) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((city) => city.trim().toLowerCase())
        .filter(Boolean)
    : [];

function needRoot() {
  if (process.getuid?.() !== 0)
    throw worldError(
      'WORLD_INVALID',
      'the world needs root (network namespaces, iptables)',
      'run it with sudo',
    );
}

const up: Command = {
  name: 'world up',
  summary: 'build a world: regions and client cities at the RTTs of data/rtt-matrix.tsv',
  help: `Usage: nearby world up --regions iad,fra,syd [--clients iad,fra,syd,sin] [flags]

Makes a network namespace per region host and per client city, links between cities delayed by
the median RTTs of data/rtt-matrix.tsv, a NATS cluster, the API, a \`nearby node\` per host and a
GeoDNS for the apps domain. Prints how to use it; \`nearby world status\` shows it again.

  --regions LIST           regions with hosts (city codes of the matrix)
  --clients LIST           client cities (default: the regions)
  --hosts-per-region N     hosts in each region (default 1)
  --apps-domain DOMAIN     apps answer at <app>.DOMAIN in the world (default world.test)
  --reach dns|anycast      how clients reach the edges: the GeoDNS answers each region's host
                           addresses (default), or every name resolves to one Anycast address
                           announced by every host over BGP (bird2), the nearest chosen by routing
  --split-parts            each host runs \`nearby agent\` and \`nearby proxy\` as two processes
                           (default: one \`nearby node\`), so each can fail alone (npm run chaos)
  --host-disk-mb N         each host's data dir on its own ext4 filesystem of N MB (a loop-mounted
                           image in the world dir), so a host's disk can fill alone (default: none)
  --name NAME              1-5 letters/digits in every interface and namespace (default 0)
  --octet N                the world's network is 10.N.0.0/16 (default 77)
  --dir DIR                where the world keeps its state (default ${defaultWorldDir}, or NEARBY_WORLD_DIR)`,
  options: {
    regions: { type: 'string' },
    clients: { type: 'string' },
    'hosts-per-region': { type: 'string' },
    'apps-domain': { type: 'string' },
    reach: { type: 'string' },
    'split-parts': { type: 'boolean' },
    'host-disk-mb': { type: 'string' },
    name: { type: 'string' },
    octet: { type: 'string' },
    ...dirOption,
  },
  async run({ values, out }) {
    const regions = cityList(values.regions);
    if (regions.length === 0) throw usageError('--regions is required (e.g. --regions iad,fra,syd)', up);
    const reach = (values.reach as string | undefined) ?? 'dns';
    if (reach !== 'dns' && reach !== 'anycast') throw usageError('--reach is dns or anycast', up);
    needRoot();
    const matrix = readRttMatrix();
    const plan = planWorld(
      {
        regions,
        clients: values.clients === undefined ? regions : cityList(values.clients),
        hostsPerRegion: Number((values['hosts-per-region'] as string | undefined) ?? 1),
        name: (values.name as string | undefined) ?? '0',
        octet: Number((values.octet as string | undefined) ?? 77),
        appsDomain: (values['apps-domain'] as string | undefined) ?? 'world.test',
        reach,
        splitParts: values['split-parts'] === true,
        ...(values['host-disk-mb'] === undefined ? {} : { hostDiskMb: Number(values['host-disk-mb']) }),
      },
      matrix,
    );
    const dir = worldDir(values);
    await bringUp(dir, plan, matrix, out);
    out(`\nThe world is up (${dir}). Use it with:
  eval "$(nearby world env${dir === defaultWorldDir ? '' : ` --dir ${dir}`})"   # NEARBY_API_URL, NEARBY_API_TOKEN
  nearby world status
  nearby world run --client ${plan.clients[0]?.city ?? plan.hosts[0].city} -- curl http://APP.${plan.options.appsDomain}/
  nearby world down`);
    return 0;
  },
};

const status: Command = {
  name: 'world status',
  summary: 'regions, hosts, clients, links with their measured RTT',
  help: `Usage: nearby world status [--json] [--no-measure] [--dir DIR]

  --json        everything as JSON: api_url, token, registry, apps_domain, hosts, clients, links
  --no-measure  skip the ping and TCP measurements of the links`,
  options: { json: { type: 'boolean' }, 'no-measure': { type: 'boolean' }, ...dirOption },
  async run({ values, out }) {
    const state = loadState(worldDir(values));
    const links = values['no-measure'] ? undefined : await measureLinks(state, readRttMatrix());
    const report = statusJson(state, links);
    if (values.json) {
      out(JSON.stringify(report, null, 2));
      return 0;
    }
    out(`World in ${report.dir}${state.ready ? '' : ' (not ready: up did not finish)'}`);
    out(
      `API       ${report.api_url}\nRegistry  ${report.registry}\nApps      http://<app>.${report.apps_domain}/ (GeoDNS ${report.dns})`,
    );
    out('\nHOST        REGION  ADDRESS       EDGE');
    for (const host of report.hosts)
      out(`${host.name.padEnd(11)} ${host.region.padEnd(7)} ${host.address.padEnd(13)} ${host.edge_url}`);
    out(
      `\nCLIENTS   ${report.clients.map((client) => `${client.city} ${client.address}`).join(', ') || 'none'}`,
    );
    const down = report.processes.filter((process) => !process.running);
    out(
      `PROCESSES ${report.processes.length - down.length} of ${report.processes.length} running${down.length ? ` (down: ${down.map((p) => p.role).join(', ')})` : ''}`,
    );
    if (links) {
      out('\nLINK      MATRIX_MS  PING_MIN_MS  TCP_CONNECT_MS  SOURCE');
      for (const link of links)
        out(
          `${`${link.from}-${link.to}`.padEnd(9)} ${String(link.matrix_rtt_ms).padStart(9)}  ${(link.ping_min_ms?.toFixed(1) ?? '-').padStart(11)}  ${(link.tcp_connect_ms?.toFixed(1) ?? '-').padStart(14)}  ${link.source}`,
        );
    }
    return 0;
  },
};

const run: Command = {
  name: 'world run',
  summary: "run a command in a client city (or a region's host), resolving apps as a user there",
  help: `Usage: nearby world run --client CITY [--dir DIR] -- CMD [ARGS…]
       nearby world run --host NAME -- CMD [ARGS…]

Runs CMD in that city's network namespace, where <app>.<apps domain> resolves through the world's
GeoDNS to the nearest region's edge, e.g.
  nearby world run --client syd -- curl http://hello.world.test/`,
  options: { client: { type: 'string' }, host: { type: 'string' }, ...dirOption },
  async run({ values, positionals }) {
    const state = loadState(worldDir(values));
    if (positionals.length === 0) throw usageError('give the command after --', run);
    const spaces = values.host
      ? state.plan.hosts.filter((host) => host.hostName === values.host)
      : state.plan.clients.filter((client) => client.city === values.client);
    if (!values.host && !values.client) throw usageError('--client CITY (or --host NAME) is required', run);
    if (spaces.length === 0)
      throw worldError(
        'WORLD_INVALID',
        `no ${values.host ? `host '${values.host}'` : `client city '${values.client}'`} in this world`,
        `clients: ${state.plan.clients.map((c) => c.city).join(', ') || 'none'}; hosts: ${state.plan.hosts.map((h) => h.hostName).join(', ')}`,
      );
    const child = spawn('ip', ['netns', 'exec', spaces[0].netns, ...positionals], { stdio: 'inherit' });
    return new Promise<number>((done) => {
      child.on('error', () => done(127));
      child.on('exit', (code, signal) => done(code ?? (signal ? 128 : 1)));
    });
  },
};

const down: Command = {
  name: 'world down',
  summary: 'remove every namespace, link, process and file the world made',
  help: 'Usage: nearby world down [--dir DIR]',
  options: dirOption,
  async run({ values, out }) {
    needRoot();
    const dir = worldDir(values);
    if (!(await takeDown(dir, out))) out(`No world in ${dir}: nothing to remove.`);
    return 0;
  },
};

const env: Command = {
  name: 'world env',
  summary: 'print the exports that point the CLI at the world',
  help: `Usage: eval "$(nearby world env [--dir DIR])"

Prints export NEARBY_API_URL=… NEARBY_API_TOKEN=… (the world's admin token): every nearby
command then works against the world.`,
  options: dirOption,
  async run({ values, out }) {
    const state = loadState(worldDir(values));
    if (!state.apiUrl || !state.token)
      throw worldError(
        'WORLD_INVALID',
        'the world has no API yet (up did not finish)',
        'nearby world down, then up',
      );
    out(`export NEARBY_API_URL=${state.apiUrl} NEARBY_API_TOKEN=${state.token}`);
    return 0;
  },
};

export const world: Command = {
  name: 'world',
  summary: 'a simulated world of regions at real distances, on this host',
  help: 'Usage: nearby world up|status|env|run|down [options]',
  subcommands: [up, status, env, run, down],
};
