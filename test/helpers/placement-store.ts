/**
 * A store in a temp dir for unit tests of placement, with host records written as agents write
 * them (src/agent/heartbeat.ts) and machine records as the control plane writes them. Only unit
 * tests write hosts this way: end-to-end tests get their hosts from real agents.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestConfig, HostRecord, MachineRecord, MachineStatus } from '../../src/model/mod.ts';
import { HOST_DOWN_MS, keys } from '../../src/model/mod.ts';
import { openStore } from '../../src/store/mod.ts';

/** A heartbeat 5 s past the point where its host counts as down (model/host-liveness.ts). */
export const staleHeartbeat = () => new Date(Date.now() - HOST_DOWN_MS - 5_000).toISOString();

export async function placementStore(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-placement-'));
  const store = await openStore({ dataDir: dir });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let count = 0;
  return {
    store,
    async host(name: string, region: string, fields: Partial<HostRecord> = {}) {
      const now = new Date().toISOString();
      const record: HostRecord = {
        name,
        region,
        runtime: 'crun',
        runtimes: ['container'],
        memory_mb: 4096,
        cpus: 2,
        heartbeat_at: now,
        started_at: now,
        version: '0.1.0',
        address: `10.0.0.${name.length}`,
        ...fields,
      };
      await store.put(keys.host(name), record);
    },
    /** A machine placed on `host`; a started one also gets the status its agent would write. */
    async machine(host: string, guest?: GuestConfig, state: 'started' | 'stopped' | 'destroyed' = 'started') {
      const id = `m${++count}`;
      const now = new Date().toISOString();
      const record = {
        id,
        name: id,
        app: 'web',
        region: 'any',
        host,
        instance_id: `i${count}`,
        config: { image: 'web:1', ...(guest ? { guest } : {}) },
        image_ref: { ref: 'web:1', digest: 'sha256:0' },
        desired: { state, seq: 1, reason: 'api' },
        events: [],
        created_at: now,
        updated_at: now,
        ...(state === 'destroyed' ? { destroyed_at: now } : {}),
      } as unknown as MachineRecord;
      await store.put(keys.machine('web', id), record);
      const status = { id, app: 'web', instance_id: `i${count}`, state, seq: 1, restarts: 0 };
      await store.put(keys.machineStatus(host, id), status as MachineStatus);
      return id;
    },
  };
}
