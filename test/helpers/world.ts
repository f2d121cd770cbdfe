/**
 * A `nearby world` for an end-to-end test or a benchmark, driven through the CLI as a user drives
 * it: `world up` on a free network and name, the CLI against it, commands in client cities, the
 * hello image pushed to its registry, and `world down` however the run ends.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildImage } from '../../src/oci/build.ts';
import { pushImage } from '../../src/oci/push.ts';
import { isAlive } from '../../src/process-alive.ts';
import { busyboxLayer, helloBinaryLayer, PATH_ENV } from './images.ts';
import { nearbyBin } from './nearby.ts';

const run = promisify(execFile);

export interface WorldStatus {
  api_url: string;
  token: string;
  registry: string;
  apps_domain: string;
  hosts: { name: string; region: string; address: string; netns: string }[];
  clients: { city: string; netns: string }[];
  links: { from: string; to: string; matrix_rtt_ms: number; ping_min_ms?: number; tcp_connect_ms?: number }[];
}

/**
 * A 10.X.0.0/16 no interface of this host uses, and a world name no namespace has, claimed for
 * this process: two test files (or a test and a bench) starting worlds at once would otherwise
 * both find the same octet free before either had made its addresses.
 */
export async function freeWorld() {
  const { stdout: addresses } = await run('ip', ['-o', 'addr']);
  const { stdout: namespaces } = await run('ip', ['netns', 'list']);
  await mkdir(CLAIMS, { recursive: true });
  for (;;) {
    const octet = 100 + Math.floor(Math.random() * 100);
    const name = `t${octet}`;
    if (addresses.includes(` 10.${octet}.`) || namespaces.includes(`nbw${name}-`)) continue;
    if (await claim(join(CLAIMS, String(octet)))) return { octet, name };
  }
}

/** Octets taken by running processes: a file each, holding the pid; a dead pid's claim lapses. */
const CLAIMS = join(tmpdir(), 'nearby-world-claims');

async function claim(path: string): Promise<boolean> {
  try {
    await writeFile(path, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const pid = Number(await readFile(path, 'utf8').catch(() => ''));
  if (pid === process.pid) return false;
  if (pid > 0 && isAlive(pid)) return false;
  await rm(path, { force: true }); // lapsed: free for the next pick
  return false;
}

export interface World {
  dir: string;
  status: WorldStatus;
  /** `nearby world …` on this world. */
  world(args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Any CLI command against the world's API (NEARBY_API_URL, NEARBY_API_TOKEN). */
  cli(args: string[], cwd?: string): Promise<{ stdout: string; stderr: string }>;
  /** `world run --client CITY -- CMD…`: the command in a client city, its stdout. */
  inCity(city: string, command: string[]): Promise<string>;
  /** Pushes the hello image (test/helpers/images.ts) to the world's registry; its reference. */
  pushHello(): Promise<string>;
  /** Deploys `fly.toml` text (written to a fresh dir) with `--image`, as a user would. */
  deploy(toml: string, image: string, ...args: string[]): Promise<string>;
  down(): Promise<void>;
}

/** A world of these regions and client cities; `extra` flags for `world up` (`--split-parts`). */
export async function startWorld(regions: string[], clients: string[], extra: string[] = []): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-world-'));
  const free = await freeWorld();
  const world = (args: string[]) => run(nearbyBin, [...args, '--dir', dir], { maxBuffer: 16 << 20 });
  const down = async () => {
    await world(['world', 'down']).catch((error) => console.log(String(error)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await world([
      ...['world', 'up', '--regions', regions.join(','), '--clients', clients.join(',')],
      ...['--name', free.name, '--octet', String(free.octet), ...extra],
    ]);
  } catch (error) {
    await down();
    throw error;
  }
  return attachWorld(dir);
}

/** A world already up in `dir` (`world up --dir`): for trying a step by hand against a kept world. */
export async function attachWorld(dir: string): Promise<World> {
  const world = (args: string[]) => run(nearbyBin, [...args, '--dir', dir], { maxBuffer: 16 << 20 });
  const down = async () => {
    await world(['world', 'down']).catch((error) => console.log(String(error)));
    await rm(dir, { recursive: true, force: true });
  };
  const status = JSON.parse(
    (await world(['world', 'status', '--json', '--no-measure'])).stdout,
  ) as WorldStatus;
  // The world's registry speaks plain HTTP at a routable address: builds push to it so.
  const env = {
    ...process.env,
    NEARBY_API_URL: status.api_url,
    NEARBY_API_TOKEN: status.token,
    NEARBY_INSECURE_REGISTRIES: status.registry,
  };
  const cli = (args: string[], cwd?: string) =>
    run(nearbyBin, args, { env, maxBuffer: 16 << 20, ...(cwd === undefined ? {} : { cwd }) });
  return {
    dir,
    status,
    world,
    cli,
    inCity: async (city, command) =>
      (
        await run(nearbyBin, ['world', 'run', '--dir', dir, '--client', city, '--', ...command], {
          maxBuffer: 16 << 20,
        })
      ).stdout,
    async pushHello() {
      await pushHello(status.registry, status.token);
      return `${status.registry}/hello:1`;
    },
    async deploy(toml, image, ...args) {
      const appDir = await mkdtemp(join(dir, 'app-'));
      await writeFile(join(appDir, 'fly.toml'), toml);
      const { stdout } = await cli(['deploy', '--image', image, ...args], appDir);
      return stdout;
    },
    down,
  };
}

/**
 * `count` requests from a client city, a new connection each (curl per request), to
 * `http://<app>.<apps domain>/`: each one's total time in ms and the last body (who answered).
 */
export async function timeRequests(world: World, city: string, app: string, count: number) {
  const url = `http://${app}.${world.status.apps_domain}/`;
  const script = `for i in $(seq ${count}); do curl -s -o /tmp/nearby-answer.$$ --max-time 30 -w '%{http_code} %{time_total}\\n' ${url}; done; cat /tmp/nearby-answer.$$; rm -f /tmp/nearby-answer.$$`;
  const lines = (await world.inCity(city, ['sh', '-c', script])).trim().split('\n');
  const answer = lines.pop() ?? '';
  const failed = lines.filter((line) => !line.startsWith('200 '));
  if (failed.length > 0)
    throw new Error(`${city}: ${failed.length} of ${count} requests failed (${failed[0]})`);
  return { ms: lines.map((line) => Number(line.split(' ')[1]) * 1000), answer };
}

/** Builds the hello image (it answers `hello from <machine> in <region>`) and pushes it as `hello:1`, as the README says: a nearby token as the password. */
export async function pushHello(registry: string, token: string): Promise<void> {
  const built = await buildImage({
    layers: [await busyboxLayer(), await helloBinaryLayer()],
    config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
  });
  await pushImage(registry, 'hello', '1', built, {
    credentials: () => ({ username: 'x', password: token }),
    insecureRegistries: [registry],
  });
}

/** One request of a `cityLoad`: when it ended (ms since the epoch), its time, status and who answered. */
export interface CityRequest {
  at: number;
  ms: number;
  status: number;
  /** The region in the hello image's answer (`hello from <id> in <region>`), or '' for another answer. */
  region: string;
}

export interface CityLoad {
  /** Requests finished so far, in order. */
  readonly requests: CityRequest[];
  /** Ends the load after the requests in flight; resolves with every request. */
  stop(): Promise<CityRequest[]>;
}

/**
 * A steady load from a client city until stopped: `parallel` loops of curl, a new connection per
 * request, to `http://<app>.<apps domain>/` (the world's GeoDNS sends the city to its nearest
 * region). Every answer is kept, so a test sees which region served each request and when.
 */
export function cityLoad(world: World, city: string, app: string, parallel = 1): CityLoad {
  const url = `http://${app}.${world.status.apps_domain}/`;
  const stopFile = join(world.dir, `load-${city}-${app}-${process.pid}-${Date.now()}.stop`);
  const loop = `while [ ! -e ${stopFile} ]; do out=$(curl -s --max-time 20 -w ' %{http_code} %{time_total}' ${url} | tr '\\n' ' '); echo "$(date +%s%3N) $out"; done`;
  const script = `${Array.from({ length: parallel }, () => `(${loop}) &`).join(' ')} wait`;
  const child = spawn(
    nearbyBin,
    ['world', 'run', '--dir', world.dir, '--client', city, '--', 'sh', '-c', script],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const requests: CityRequest[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const match = /^(\d+) (.*?)\s*(\d{3}) ([\d.]+)$/.exec(line.trim());
      if (match === null) continue;
      requests.push({
        at: Number(match[1]),
        ms: Number(match[4]) * 1000,
        status: Number(match[3]),
        region: /^hello from \S+ in (\S+)/.exec(match[2])?.[1] ?? '',
      });
    }
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    requests,
    async stop() {
      await writeFile(stopFile, '');
      await exited;
      await rm(stopFile, { force: true });
      return requests;
    },
  };
}
