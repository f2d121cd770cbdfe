/**
 * `npm run bench -- runtime-start`: where the runtime's part of a stopped machine's start goes.
 * A nearby server starts the hello machine and stops it; then, with the server idle, the
 * machine's own bundle (its root, network namespace, user namespace, cgroup limits, cached
 * seccomp filter) is run by `crun run --detach` as the agent's shim runs it, as is and with one
 * part left out at a time, and split into `crun create` and `crun start`; and the bare reference
 * of `npm run bench -- wake` (`crun run` of `/bin/true` in a plain bundle). Every run is timed by a
 * shell around crun (`$EPOCHREALTIME`), so no Node fork is in the figures. Medians of 15.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MachineView } from '../src/model/mod.ts';
import { helloImage } from '../test/helpers/images.ts';
import { startNearby } from '../test/helpers/nearby.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { bareRuntimeRuns } from './lib/bare-runtime.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = Number(process.env.RUNTIME_ROUNDS ?? 15);
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
const round = (ms: number) => Math.round(ms * 10) / 10;

interface OciConfig {
  process: { args: string[] };
  annotations?: Record<string, string>;
  mounts: { destination: string; uidMappings?: unknown; gidMappings?: unknown }[];
  linux: {
    namespaces: { type: string; path?: string }[];
    resources?: unknown;
    seccomp?: unknown;
    uidMappings?: unknown;
    gidMappings?: unknown;
  };
}

/** `bash -c script` with `$0`…: the `$EPOCHREALTIME` marks it echoes, as ms between them. */
function shellTimed(script: string, args: string[]): number[] {
  const out = execFileSync('bash', ['-c', script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const marks = out.trim().split(' ').map(Number);
  return marks.slice(1).map((mark, index) => (mark - marks[index]) * 1000);
}

try {
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const nearby = await startNearby(hooks, {});
  await nearby.api('POST', '/v1/apps', { app_name: 'runtime-start' });
  const config = {
    image,
    services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
  };
  const created = await nearby.api<MachineView>('POST', '/v1/apps/runtime-start/machines', { config });
  const id = created.body.id;
  if (id === undefined) throw new Error(`could not create the machine: ${JSON.stringify(created.body)}`);
  const path = `/v1/apps/runtime-start/machines/${id}`;
  await nearby.api('GET', `${path}/wait?state=started&timeout=60`);
  await nearby.api('POST', `${path}/stop`);
  await nearby.api('GET', `${path}/wait?state=stopped&timeout=60`);
  await sleep(500);

  const stateDir = join(nearby.dataDir, 'runtime');
  const sandbox = JSON.parse(readFileSync(join(stateDir, 'sandboxes', `${id}.json`), 'utf8')) as {
    dir: string;
  };
  const root = join(stateDir, 'crun');
  const bundle = join(sandbox.dir, 'bundle');
  const configPath = join(bundle, 'config.json');
  const original = readFileSync(configPath, 'utf8');
  cleanups.push(() => writeFileSync(configPath, original));
  const machineConfig = () => JSON.parse(original) as OciConfig;
  let runs = 0;
  /** Runs the bundle with `change` applied to its config, ROUNDS times; the median ms. */
  const runDetached = (change: (config: OciConfig) => void = () => {}) => {
    const edited = machineConfig();
    change(edited);
    writeFileSync(configPath, JSON.stringify(edited));
    const samples: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const container = `bench-${process.pid}-${runs++}`;
      // stdio away from the bench: the detached process would hold its pipes.
      const script =
        's=$EPOCHREALTIME; crun --root "$0" run --detach --bundle "$1" "$2" </dev/null >/dev/null 2>&1 || exit; echo "$s $EPOCHREALTIME"';
      samples.push(...shellTimed(script, [root, bundle, container]));
      execFileSync('crun', ['--root', root, 'delete', '--force', container], { stdio: 'ignore' });
    }
    return round(stats(samples).p50);
  };
  const results: [string, number][] = [
    ['as_is', runDetached()],
    [
      'no_seccomp',
      runDetached((c) => {
        delete c.linux.seccomp;
        delete c.annotations?.['run.oci.seccomp_bpf_data'];
      }),
    ],
    [
      'no_netns_join',
      runDetached((c) => {
        c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network');
      }),
    ],
    [
      'no_cgroup_limits',
      runDetached((c) => {
        delete c.linux.resources;
      }),
    ],
    [
      'no_userns',
      runDetached((c) => {
        c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'user');
        delete c.linux.uidMappings;
        delete c.linux.gidMappings;
        for (const mount of c.mounts) {
          delete mount.uidMappings;
          delete mount.gidMappings;
        }
      }),
    ],
    [
      'only_proc_dev_sys',
      runDetached((c) => {
        c.mounts = c.mounts.filter((m) => ['/proc', '/dev', '/sys'].includes(m.destination));
      }),
    ],
    [
      'bin_true',
      runDetached((c) => {
        c.process.args = ['/bin/true'];
      }),
    ],
    [
      // A process that stays, as the machine's does, but is not the machine's server.
      'bin_sleep',
      runDetached((c) => {
        c.process.args = ['/bin/sleep', '60'];
      }),
    ],
  ];
  writeFileSync(configPath, original);
  const creates: number[] = [];
  const starts: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const container = `bench-${process.pid}-${runs++}`;
    const script =
      's=$EPOCHREALTIME; crun --root "$0" create --bundle "$1" "$2" </dev/null >/dev/null 2>&1 || exit; m=$EPOCHREALTIME; crun --root "$0" start "$2" </dev/null >/dev/null 2>&1 || exit; echo "$s $m $EPOCHREALTIME"';
    const [create, start] = shellTimed(script, [root, bundle, container]);
    creates.push(create);
    starts.push(start);
    execFileSync('crun', ['--root', root, 'delete', '--force', container], { stdio: 'ignore' });
  }
  const bare = await bareRuntimeRuns(nearby.dataDir, ROUNDS);
  for (const [name, ms] of results) console.log(`runtime_run_detach_${name}_ms=${ms}`);
  console.log(`runtime_create_ms=${round(stats(creates).p50)}`);
  console.log(`runtime_start_after_create_ms=${round(stats(starts).p50)}`);
  console.log(`runtime_crun_run_true_p50_ms=${round(bare.p50)}`);
  console.log(`runtime_run_detach_over_bare_ratio=${Math.round((results[0][1] / bare.p50) * 100) / 100}`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
