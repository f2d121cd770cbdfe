/**
 * Which volumes a machine mounts: the control plane gives each mount a volume held by the machine
 * (compare-and-set on the volume record) before the machine is written, and picks its host.
 */
import { isNearbyError } from '../errors.ts';
import { keys, type MachineConfig, type MachineMount, type VolumeRecord } from '../model/mod.ts';
import { type Store, update, values } from '../store/mod.ts';
import { apiErrors } from './errors.ts';
import { volumeApiErrors } from './volume-errors.ts';
import { createVolume, holder, record } from './volumes.ts';

/**
 * Gives a machine its volumes before it is written: each mount gets a `volume` (the one named, the
 * one it had under that name or path, a free one of that name in the region, or a new one) held
 * by `machineId`. All must be on one host, which the machine then runs on. Volumes the machine
 * held but no longer mounts are let go.
 */
export async function attachVolumes(
  store: Store,
  options: {
    app: string;
    machineId: string;
    region: string;
    config: MachineConfig;
    /** The machine's host when it has one (an update), else how to pick one. */
    host: string | (() => Promise<string>);
    previous?: MachineConfig;
  },
): Promise<{ config: MachineConfig; host?: string }> {
  const { app, machineId, region } = options;
  const mounts = options.config.mounts ?? [];
  const paths = new Set<string>();
  for (const mount of mounts) {
    const path = mount.path.replace(/\/+$/, '');
    if (!path.startsWith('/') || path === '' || path.split('/').includes('..')) {
      throw apiErrors.invalid(`config.mounts: path '${mount.path}' must be an absolute path other than /`);
    }
    if (paths.has(path)) throw apiErrors.invalid(`config.mounts: two mounts at ${path}`);
    paths.add(path);
    if (!mount.volume && !mount.name) {
      throw apiErrors.invalid(`config.mounts: the mount at ${path} needs a volume id or a name`);
    }
  }
  let host = typeof options.host === 'string' ? options.host : undefined;
  const resolved: MachineMount[] = [];
  const kept = new Set<string>();
  for (const mount of mounts) {
    const reuse = options.previous?.mounts?.find(
      (old) => old.volume && !mount.volume && (old.name === mount.name || old.path === mount.path),
    );
    let id = mount.volume ?? reuse?.volume;
    if (!id) {
      const free = await findFree(store, app, mount.name as string, region, host);
      id = free?.id;
    }
    let volume: VolumeRecord;
    if (id) {
      volume = await record(store, app, id);
      if (volume.desired === 'destroyed') throw volumeApiErrors.destroyed(id);
      if (volume.region !== region) throw volumeApiErrors.wrongRegion(id, volume.region, region);
      if (host && volume.host !== host) throw volumeApiErrors.wrongHost(id, volume.host, host);
    } else {
      host ??= typeof options.host === 'string' ? options.host : await options.host();
      const input = { name: mount.name as string, region, size_gb: mount.size_gb };
      volume = await createVolume(store, app, input, region, host);
    }
    host ??= volume.host;
    await claim(store, volume, machineId);
    kept.add(volume.id);
    resolved.push({ ...mount, volume: volume.id, name: mount.name ?? volume.name });
  }
  for (const old of options.previous?.mounts ?? []) {
    if (old.volume && !kept.has(old.volume)) await release(store, app, old.volume, machineId);
  }
  const config = mounts.length > 0 ? { ...options.config, mounts: resolved } : options.config;
  return { config, host };
}

async function findFree(
  store: Store,
  app: string,
  name: string,
  region: string,
  host: string | undefined,
): Promise<VolumeRecord | undefined> {
  const candidates = (await values<VolumeRecord>(store, keys.volumes(app)))
    .filter(
      (v) => v.name === name && v.region === region && v.desired === 'created' && (!host || v.host === host),
    )
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const volume of candidates) if ((await holder(store, volume)) === null) return volume;
  return undefined;
}

/** Marks the volume held by `machineId`; refuses when another live machine holds it. */
async function claim(store: Store, volume: VolumeRecord, machineId: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const entry = await store.get<VolumeRecord>(keys.volume(volume.app, volume.id));
    if (!entry) throw volumeApiErrors.notFound(volume.app, volume.id);
    const current = entry.value;
    const other = await holder(store, current);
    if (other && other !== machineId) throw volumeApiErrors.attached(volume.id, other);
    if (current.attached_machine_id === machineId) return;
    const next = { ...current, attached_machine_id: machineId, updated_at: new Date().toISOString() };
    const written = await store
      .put(keys.volume(volume.app, volume.id), next, { expectRevision: entry.revision })
      .then(() => true)
      .catch((error: unknown) => {
        if (isNearbyError(error, 'STORE_CONFLICT')) return false; // written meanwhile: look again
        throw error;
      });
    if (written) return;
  }
  throw volumeApiErrors.attached(volume.id, 'another machine');
}

async function release(store: Store, app: string, id: string, machineId: string): Promise<void> {
  await update<VolumeRecord>(store, keys.volume(app, id), (volume) =>
    volume?.attached_machine_id === machineId
      ? { ...volume, attached_machine_id: null, updated_at: new Date().toISOString() }
      : undefined,
  );
}
