/**
 * What a HAProxy left running by an earlier nearby holds, read back so the new nearby goes on
 * from there instead of replacing it: its server slots and the machine in each (from HAProxy's
 * own state), the certificates it loaded, and the structure of the configuration it runs.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProxyPaths } from './haproxy-config.ts';
import type { RuntimeApi } from './runtime-api.ts';
import { slotIndex } from './slots.ts';
import { certHash } from './tls.ts';

export interface AdoptedState {
  /** Backend → how many slots it declares. */
  slotsByBackend: Map<string, number>;
  /** Slot → the machine it holds (HAProxy's slots map: what the access log names). */
  machineOfSlot: Map<string, string>;
  /** Host name → hash of the certificate loaded for it. */
  certs: Map<string, string>;
  /** The structure hash of the configuration it runs ('' when unknown: a reload follows). */
  structure: string;
}

export const structureHash = (structure: string) => createHash('sha256').update(structure).digest('hex');

/** Records the structure hash of the configuration HAProxy now serves (after a start or reload). */
export async function recordStructure(paths: ProxyPaths, hash: string): Promise<void> {
  await writeFile(paths.structureFile, `${hash}\n`);
}

/** @throws NearbyError HAPROXY_COMMAND_FAILED when the running HAProxy does not answer */
export async function readAdoptedState(api: RuntimeApi, paths: ProxyPaths): Promise<AdoptedState> {
  const [servers, machineOfSlot] = await Promise.all([api.servers(), api.showMap(paths.slotsMap)]);
  const slotsByBackend = new Map<string, number>();
  for (const server of servers) {
    const index = slotIndex(server.name);
    if (index === undefined) continue;
    slotsByBackend.set(server.backend, Math.max(slotsByBackend.get(server.backend) ?? 0, index));
  }
  const certs = new Map<string, string>();
  for (const name of await readdir(paths.certsDir).catch(() => [] as string[])) {
    if (!name.endsWith('.pem')) continue;
    const pem = await readFile(join(paths.certsDir, name), 'utf8');
    const hostname = name.slice(0, -'.pem'.length);
    certs.set(hostname, certHash({ hostname, pem }));
  }
  const structure = (await readFile(paths.structureFile, 'utf8').catch(() => '')).trim();
  return { slotsByBackend, machineOfSlot, certs, structure };
}
