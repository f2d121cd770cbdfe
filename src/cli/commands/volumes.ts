/** `nearby volumes create|list|show|extend|destroy|snapshots`: persistent disks for machines. */
import { createInterface } from 'node:readline/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { NearbyError } from '../../errors.ts';
import type { VolumeView } from '../../model/volume.ts';
import { appName } from '../app-name.ts';
import type { ApiClient } from '../client.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { ago, table } from '../output.ts';

interface SnapshotView {
  id: string;
  volume_id: string;
  status: string;
  size: number;
  volume_size_gb?: number;
  created_at: string;
  error?: string;
}

const GB = 1024 ** 3;
const WAIT_MS = 120_000;
const base = (app: string) => `/v1/apps/${encodeURIComponent(app)}/volumes`;
const volumePath = (app: string, id: string) => `${base(app)}/${encodeURIComponent(id)}`;

function sizeArg(value: unknown, command: Command): number {
  const size = Number(String(value ?? '').replace(/\s*gb?$/i, ''));
  if (!Number.isInteger(size) || size < 1)
    throw usageError('--size: a whole number of GB, e.g. --size 3', command);
  return size;
}

function bytes(count: number): string {
  if (count >= GB) return `${(count / GB).toFixed(1)} GB`;
  if (count >= 1024 ** 2) return `${(count / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.round(count / 1024)} KB`;
}

/** Polls until the agent has done what was asked (or reported why not). */
async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  failed: (value: T) => string | undefined,
  what: string,
  signal: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await read();
    const failure = failed(value);
    if (failure)
      throw new NearbyError('VOLUME_FAILED', `${what} failed: ${failure}`, { hint: 'see `nearby logs`' });
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new NearbyError('VOLUME_TIMEOUT', `${what} is not done after ${WAIT_MS / 1000}s`, {
        hint: 'check that the host agent is up (`nearby status`), then look again with `nearby volumes list`',
      });
    }
    await sleep(300, undefined, { signal });
  }
}

const failedVolume = (v: VolumeView) => (v.state === 'failed' ? (v.error ?? 'unknown error') : undefined);

function describe(volume: VolumeView): string[] {
  return [
    `ID:         ${volume.id}`,
    `Name:       ${volume.name}`,
    `App:        ${volume.app}`,
    `State:      ${volume.state}`,
    `Size:       ${volume.size_gb} GB${volume.fs_bytes ? ` (filesystem ${bytes(volume.fs_bytes)})` : ''}`,
    `Region:     ${volume.region}`,
    `Host:       ${volume.host}`,
    `Attached:   ${volume.attached_machine_id ?? '-'}`,
    ...(volume.snapshot_id ? [`Restored:   from snapshot ${volume.snapshot_id}`] : []),
    ...(volume.source_volume_id ? [`Forked:     from volume ${volume.source_volume_id}`] : []),
    ...(volume.pending ? [`Pending:    ${volume.pending}`] : []),
    ...(volume.error ? [`Error:      ${volume.error}`] : []),
    `Created:    ${volume.created_at} (${ago(volume.created_at)})`,
  ];
}

const create: Command = {
  name: 'volumes create',
  summary: 'create a volume (empty, or from a snapshot)',
  help: `Usage: nearby volumes create NAME --size GB [--region R] [--snapshot-id ID] [-a APP] [--json]

Makes an ext4 volume of that many GB on a host of the region and waits until it is ready. Mount it
with [[mounts]] source = "NAME" in nearby.toml, or "mounts": [{"volume": ID, "path": "/data"}].
--snapshot-id restores a snapshot into the new volume (at least the snapshot's size).`,
  options: {
    ...appOption,
    ...jsonOption,
    size: { type: 'string', short: 's' },
    region: { type: 'string', short: 'r' },
    'snapshot-id': { type: 'string' },
  },
  async run({ client, out, values, positionals, signal }) {
    const [name] = positionals;
    if (!name) throw usageError('which name? nearby volumes create NAME --size GB', create);
    const snapshot = values['snapshot-id'] as string | undefined;
    if (values.size === undefined && !snapshot) throw usageError('give --size GB', create);
    const app = await appName(values);
    const created = await client().request<VolumeView>('POST', base(app), {
      name,
      ...(values.size !== undefined ? { size_gb: sizeArg(values.size, create) } : {}),
      ...(values.region ? { region: values.region } : {}),
      ...(snapshot ? { snapshot_id: snapshot } : {}),
    });
    const volume = await until(
      () => client().request<VolumeView>('GET', volumePath(app, created.id)),
      (v) => v.state === 'created',
      failedVolume,
      `creating volume ${created.id}`,
      signal,
    );
    if (values.json) out(JSON.stringify(volume, null, 2));
    else
      out(
        `Created volume ${volume.id} (${volume.name}, ${volume.size_gb} GB) in ${volume.region} on host ${volume.host}` +
          (snapshot ? ` from snapshot ${snapshot}` : ''),
      );
    return 0;
  },
};

const list: Command = {
  name: 'volumes list',
  summary: "list an app's volumes",
  help: 'Usage: nearby volumes list [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const volumes = await client().request<VolumeView[]>('GET', base(await appName(values)));
    if (values.json) out(JSON.stringify(volumes, null, 2));
    else
      out(
        table(
          ['ID', 'NAME', 'STATE', 'SIZE', 'REGION', 'HOST', 'ATTACHED VM', 'CREATED'],
          volumes.map((v) => [
            v.id,
            v.name,
            v.state,
            `${v.size_gb}GB`,
            v.region,
            v.host,
            v.attached_machine_id ?? '',
            ago(v.created_at),
          ]),
        ),
      );
    return 0;
  },
};

const show: Command = {
  name: 'volumes show',
  summary: 'show one volume',
  help: 'Usage: nearby volumes show ID [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values, positionals }) {
    const [id] = positionals;
    if (!id) throw usageError('which volume? nearby volumes show ID', show);
    const volume = await client().request<VolumeView>('GET', volumePath(await appName(values), id));
    out(values.json ? JSON.stringify(volume, null, 2) : describe(volume).join('\n'));
    return 0;
  },
};

const extend: Command = {
  name: 'volumes extend',
  summary: 'grow a volume',
  help: `Usage: nearby volumes extend ID --size GB [-a APP]

Grows the volume's file and its filesystem to GB (volumes never shrink). The filesystem grows at
once where the host allows it online, otherwise when the machine using it next starts.`,
  options: { ...appOption, size: { type: 'string', short: 's' } },
  async run({ client, out, values, positionals, signal }) {
    const [id] = positionals;
    if (!id) throw usageError('which volume? nearby volumes extend ID --size GB', extend);
    const size = sizeArg(values.size, extend);
    const app = await appName(values);
    await client().request('PUT', `${volumePath(app, id)}/extend`, { size_gb: size });
    const volume = await until(
      () => client().request<VolumeView>('GET', volumePath(app, id)),
      (v) => v.fs_bytes === size * GB || v.pending !== undefined,
      failedVolume,
      `extending volume ${id}`,
      signal,
    );
    out(`Volume ${id} is now ${size} GB`);
    if (volume.pending)
      out(`Note: ${volume.pending} (\`nearby machine restart ${volume.attached_machine_id}\`)`);
    return 0;
  },
};

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await prompt.question(`${question} [y/N] `);
  prompt.close();
  return /^y(es)?$/i.test(answer.trim());
}

const destroy: Command = {
  name: 'volumes destroy',
  summary: 'destroy a volume and its data (its snapshots stay)',
  help: `Usage: nearby volumes destroy ID [--yes] [-a APP]

Refused while a machine has the volume attached: destroy that machine first.`,
  options: { ...appOption, yes: { type: 'boolean', short: 'y' } },
  async run({ client, out, values, positionals, signal }) {
    const [id] = positionals;
    if (!id) throw usageError('which volume? nearby volumes destroy ID', destroy);
    if (!values.yes) {
      if (!process.stdin.isTTY)
        throw usageError(`this deletes the data of ${id}; confirm with --yes`, destroy);
      if (!(await confirm(`Destroy volume ${id} and all its data?`))) return 1;
    }
    const app = await appName(values);
    await client().request('DELETE', volumePath(app, id));
    await until(
      () => client().request<VolumeView>('GET', volumePath(app, id)),
      (v) => v.state === 'destroyed',
      failedVolume,
      `destroying volume ${id}`,
      signal,
    );
    out(`Destroyed volume ${id}`);
    return 0;
  },
};

/** `volumes snapshots list|create ID`: one command with its own verb, like `fly volumes snapshots`. */
const snapshots: Command = {
  name: 'volumes snapshots',
  summary: "list or take a volume's snapshots",
  help: `Usage: nearby volumes snapshots list ID [-a APP] [--json]
       nearby volumes snapshots create ID [-a APP]

A snapshot is a consistent copy of the volume (its filesystem is frozen for the copy); restore one
with \`nearby volumes create NAME --snapshot-id SNAPSHOT\`.`,
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values, positionals, signal }) {
    const [verb, id] = positionals;
    if ((verb !== 'list' && verb !== 'create') || !id) {
      throw usageError('nearby volumes snapshots list ID, or nearby volumes snapshots create ID', snapshots);
    }
    const app = await appName(values);
    const path = `${volumePath(app, id)}/snapshots`;
    if (verb === 'create') return createSnapshot(client(), path, id, out, signal);
    const list = await client().request<SnapshotView[]>('GET', path);
    if (values.json) out(JSON.stringify(list, null, 2));
    else
      out(
        table(
          ['ID', 'STATUS', 'SIZE', 'VOLUME SIZE', 'CREATED'],
          list.map((s) => [
            s.id,
            s.status,
            bytes(s.size),
            s.volume_size_gb ? `${s.volume_size_gb}GB` : '',
            `${s.created_at} (${ago(s.created_at)})`,
          ]),
        ),
      );
    return 0;
  },
};

async function createSnapshot(
  client: ApiClient,
  path: string,
  id: string,
  out: (text: string) => void,
  signal: AbortSignal,
): Promise<number> {
  const started = await client.request<SnapshotView>('POST', path);
  const snapshot = await until(
    async () =>
      (await client.request<SnapshotView[]>('GET', path)).find((s) => s.id === started.id) ?? started,
    (s) => s.status === 'created',
    (s) => (s.status === 'failed' ? (s.error ?? 'unknown error') : undefined),
    `snapshot of ${id}`,
    signal,
  );
  out(`Created snapshot ${snapshot.id} of volume ${id} (${bytes(snapshot.size)} on disk)`);
  return 0;
}

export const volumes: Command = {
  name: 'volumes',
  summary: 'manage volumes (persistent disks mounted into machines)',
  help: 'Usage: nearby volumes <create|list|show|extend|destroy|snapshots>',
  subcommands: [create, list, show, extend, destroy, snapshots],
};
