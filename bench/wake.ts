/**
 * `npm run bench -- wake`: time from a request's arrival at the edge proxy to its first response
 * byte when the app's one machine is (a) started — the reference, measured in the same run —
 * (b) suspended (cgroup freezer) and (c) stopped, 30 wakes each. Machines go to sleep the real
 * way: autostop finds them idle (a short threshold here) and suspends or stops them. Also in the
 * same run: the bare runtime's start (`crun run` of `/bin/true`, without and with a user
 * namespace), which a stopped wake is divided by; the floor of a suspended wake on this host (a
 * bare freezer thaw and a request through HAProxy, no activator); and where a stopped and a
 * suspended wake's time goes (the server's `start step` lines, src/start-steps.ts).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupLayout, controllerDir } from '../src/agent/runtime/cgroups.ts';
import type { MachineView } from '../src/model/mod.ts';
import { proxyPaths, RuntimeApi } from '../src/proxy/mod.ts';
import { helloImage } from '../test/helpers/images.ts';
import { startNearby } from '../test/helpers/nearby.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { bareRuntime } from './lib/bare-runtime.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = Number(process.env.WAKE_ROUNDS ?? 30);
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };

/** `show servers state`'s admin flag of a server in forced maintenance (out of rotation). */
const MAINTENANCE = 0x01;
const round = (ms: number) => Math.round(ms * 10) / 10;
/** Wall-clock milliseconds, sub-millisecond: the server's start steps are on the same clock. */
const now = () => performance.timeOrigin + performance.now();

/**
 * A stopped wake's steps in the order they happen on its critical path (src/start-steps.ts); each
 * is reported as the time since the one before it that the wake went through.
 */
const STOPPED_PATH = [
  'activator-asks',
  'api-start',
  'api-written',
  'agent-record-seen',
  'agent-start',
  'agent-secrets-read',
  'agent-prepared',
  'agent-volumes-mounted',
  'agent-starting-written',
  'runtime-begin',
  'runtime-started-ahead',
  'runtime-previous-deleted',
  'runtime-root-mounted',
  'runtime-cgroup-fresh',
  'runtime-shim-returned',
  'activator-listening',
  'activator-forwards',
  'activator-answered',
];

/**
 * A suspended wake's steps. Two branches meet at the answer: the agent's (the store's change seen,
 * the cgroup thawed) and the activator's (its connect to the frozen socket, which the kernel
 * accepts, and the forward); the request is answered once both are done. Their order differs
 * from wake to wake (and changed with issue 21), so each wake's steps are taken in the order they
 * happened, each reported as the time since the one before it.
 */
const SUSPENDED_STEPS = [
  'activator-asks',
  'api-start',
  'agent-record-seen',
  'agent-resume',
  'runtime-thawed',
  'activator-listening',
  'activator-forwards',
  'activator-answered',
];

interface StepLine {
  msg?: string;
  machine?: string;
  step?: string;
  at?: number;
}

/** Per wake of `machine` (each begins at `activator-asks`): step → when it was marked. */
function wakesOf(logFile: string, machine: string): Map<string, number>[] {
  const wakes: Map<string, number>[] = [];
  for (const text of readFileSync(logFile, 'utf8').split('\n')) {
    if (!text.includes('"start step"')) continue;
    const line = JSON.parse(text) as StepLine;
    if (line.machine !== machine || line.step === undefined || line.at === undefined) continue;
    if (line.step === 'activator-asks') wakes.push(new Map());
    const current = wakes.at(-1);
    if (current !== undefined && !current.has(line.step)) current.set(line.step, line.at);
  }
  return wakes;
}

/** Freezes or thaws a machine's cgroup directly (v2 `cgroup.freeze`, v1 `freezer.state`). */
async function setFrozen(id: string, frozen: boolean): Promise<void> {
  if (cgroupLayout() === 'v2') {
    const dir = controllerDir(id, 'unified');
    await writeFile(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
    if (!frozen) return;
    while (!/^frozen 1$/m.test(await readFile(join(dir, 'cgroup.events'), 'utf8'))) await sleep(1);
    return;
  }
  const state = join(controllerDir(id, 'freezer'), 'freezer.state');
  await writeFile(state, frozen ? 'FROZEN' : 'THAWED');
  if (!frozen) return;
  while ((await readFile(state, 'utf8')).trim() !== 'FROZEN') await sleep(1);
}

try {
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const logDir = await mkdtemp(join(tmpdir(), 'nearby-bench-wake-'));
  cleanups.push(() => rm(logDir, { recursive: true, force: true }));
  const logFile = join(logDir, 'server.log');
  const nearby = await startNearby(hooks, {
    args: ['--autostop-interval', '100ms', '--autostop-idle', '300ms', '--wake-timeout', '10s'],
    // `debug` makes the server log its start steps (src/start-steps.ts) for the breakdown below.
    env: { NEARBY_LOG_LEVEL: 'debug' },
    logFile,
  });
  const runtimeApi = new RuntimeApi(proxyPaths(nearby.dataDir).adminSocket);
  const ok = (status: number, what: string) => {
    if (status >= 300) throw new Error(`${what} failed with ${status}`);
  };

  /** Milliseconds from sending a request (fresh connection) to its response's first byte. */
  const timeToFirstByte = (app: string, sent: number[] = []) =>
    new Promise<number>((resolve, reject) => {
      sent.push(now());
      const started = performance.now();
      const request = http.get(
        {
          host: '127.0.0.1',
          port: nearby.proxyPort,
          path: '/',
          headers: { host: `${app}.localhost` },
          agent: false,
        },
        (response) => {
          const elapsed = performance.now() - started;
          response.resume();
          response.on('end', () =>
            response.statusCode === 200
              ? resolve(elapsed)
              : reject(new Error(`${app}: HTTP ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
    });

  async function app(name: string, autostop: 'off' | 'stop' | 'suspend'): Promise<string> {
    ok((await nearby.api('POST', '/v1/apps', { app_name: name })).status, `create app ${name}`);
    const config = {
      image,
      services: [
        {
          protocol: 'tcp',
          internal_port: 8080,
          ports: [{ port: 80, handlers: ['http'] }],
          autostop,
          autostart: true,
          min_machines_running: 0,
        },
      ],
    };
    const { body } = await nearby.api<MachineView>('POST', `/v1/apps/${name}/machines`, { config });
    ok(
      (await nearby.api('GET', `/v1/apps/${name}/machines/${body.id}/wait?state=started&timeout=60`)).status,
      'wait',
    );
    return body.id;
  }

  /** Waits until autostop has put the machine to sleep and HAProxy no longer routes to it. */
  async function asleep(name: string, id: string, state: 'stopped' | 'suspended') {
    for (;;) {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/${name}/machines/${id}`);
      // Slots are named by position, not machine: routed is the machine's address out of maintenance.
      const servers = await runtimeApi.servers(`app_${name}`);
      const routed = servers.some(
        (server) => server.address === body.nearby.ipv4 && (server.adminState & MAINTENANCE) === 0,
      );
      if (body.state === state && !routed) return;
      await sleep(20);
    }
  }

  /**
   * The floor of a suspended wake on this host, measured in the same run: the warm machine's
   * cgroup frozen behind the agent's back, then a request sent through HAProxy straight to it (it
   * stays in rotation) and the cgroup thawed by a write from here at once: a bare freezer thaw and
   * a forward, with no activator, API, store or agent in between.
   */
  async function thawAndAnswer(id: string): Promise<number> {
    await setFrozen(id, true);
    const answered = timeToFirstByte('warm');
    await setFrozen(id, false);
    return answered;
  }

  const warm = await app('warm', 'off');
  const frozen = await app('frozen', 'suspend');
  const cold = await app('cold', 'stop');
  await timeToFirstByte('warm'); // the first request of a connection-less HAProxy warms nothing else up

  const samples: Record<'started' | 'suspended' | 'stopped', number[]> = {
    started: [],
    suspended: [],
    stopped: [],
  };
  const sent: Record<'suspended' | 'stopped', number[]> = { suspended: [], stopped: [] };
  const thawFloor: number[] = [];
  // The bare runtime, what a stopped wake is divided by: one run of each per round, between the
  // wakes, so that both see the same load on this shared host (it swings within minutes).
  const bareRuntimes = [
    await bareRuntime(nearby.dataDir),
    await bareRuntime(nearby.dataDir, { userns: true }),
  ] as const;
  cleanups.push(() => Promise.all(bareRuntimes.map((runtime) => runtime.close())));
  const bareSamples: [number[], number[]] = [[], []];
  for (let i = 0; i < ROUNDS; i++) {
    samples.started.push(await timeToFirstByte('warm'));
    await asleep('frozen', frozen, 'suspended');
    samples.suspended.push(await timeToFirstByte('frozen', sent.suspended));
    await asleep('cold', cold, 'stopped');
    samples.stopped.push(await timeToFirstByte('cold', sent.stopped));
    thawFloor.push(await thawAndAnswer(warm));
    for (const [which, runtime] of bareRuntimes.entries()) bareSamples[which].push(runtime.runOnce());
  }

  const bare = { bin: bareRuntimes[0].bin, ...stats(bareSamples[0]) };
  const bareUserns = stats(bareSamples[1]);

  const started = stats(samples.started);
  console.log(`wake_rounds=${ROUNDS}`);
  console.log(`wake_started_p50_ms=${round(started.p50)}`);
  console.log(`wake_started_p95_ms=${round(started.p95)}`);
  for (const kind of ['suspended', 'stopped'] as const) {
    const measured = stats(samples[kind]);
    console.log(`wake_${kind}_p50_ms=${round(measured.p50)}`);
    console.log(`wake_${kind}_p95_ms=${round(measured.p95)}`);
    console.log(`wake_${kind}_over_started_p50_ms=${round(measured.p50 - started.p50)}`);
    console.log(`wake_${kind}_over_started_p95_ms=${round(measured.p95 - started.p95)}`);
  }
  const stopped = stats(samples.stopped);
  console.log(`runtime_${bare.bin}_run_true_p50_ms=${round(bare.p50)}`);
  console.log(`runtime_${bare.bin}_run_true_userns_p50_ms=${round(bareUserns.p50)}`);
  const ratio = (value: number) => Math.round(value * 100) / 100;
  console.log(`wake_stopped_over_runtime_ratio=${ratio((stopped.p50 - started.p50) / bare.p50)}`);
  console.log(
    `wake_stopped_over_runtime_userns_ratio=${ratio((stopped.p50 - started.p50) / bareUserns.p50)}`,
  );

  const floor = stats(thawFloor);
  console.log(`wake_thaw_floor_p50_ms=${round(floor.p50)}`);
  console.log(`wake_thaw_floor_p95_ms=${round(floor.p95)}`);
  console.log(`wake_thaw_floor_over_started_p95_ms=${round(floor.p95 - started.p95)}`);

  // Where a wake's time goes: per step of its path, the median over the wakes of the time since
  // the step before it (the first since the request was sent, the last until its first byte); and
  // every step (also those off the path: the API's answer, the status writes, HAProxy's slot) as
  // the median time since the request was sent.
  const medians = (of: Map<string, number[]>) =>
    [...of].map(([name, values]) => `${name}=${round(stats(values).p50)}`).join(' ');
  const where = (kind: 'suspended' | 'stopped', machine: string, path: string[], inOrderSeen = false) => {
    const wakes = wakesOf(logFile, machine).slice(-ROUNDS);
    const segments = new Map<string, number[]>();
    const add = (name: string, ms: number) => segments.set(name, [...(segments.get(name) ?? []), ms]);
    const timeline = new Map<string, number[]>();
    wakes.forEach((steps, i) => {
      const at0 = sent[kind][sent[kind].length - wakes.length + i];
      for (const [step, at] of steps) timeline.set(step, [...(timeline.get(step) ?? []), at - at0]);
      let previous = at0;
      const reached = path.filter((step) => steps.has(step));
      if (inOrderSeen) reached.sort((a, b) => (steps.get(a) ?? 0) - (steps.get(b) ?? 0));
      for (const step of reached) {
        const at = steps.get(step) ?? previous;
        add(step, at - previous);
        previous = at;
      }
      add('first-byte', at0 + samples[kind][samples[kind].length - wakes.length + i] - previous);
    });
    const ordered = new Map([...timeline].sort(([, a], [, b]) => stats(a).p50 - stats(b).p50));
    return { breakdown: medians(segments), timeline: medians(ordered) };
  };
  const stoppedSteps = where('stopped', cold, STOPPED_PATH);
  console.log(`wake_breakdown_ms ${stoppedSteps.breakdown}`);
  console.log(`wake_timeline_ms ${stoppedSteps.timeline}`);
  const suspendedSteps = where('suspended', frozen, SUSPENDED_STEPS, true);
  console.log(`wake_suspended_breakdown_ms ${suspendedSteps.breakdown}`);
  console.log(`wake_suspended_timeline_ms ${suspendedSteps.timeline}`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
