/**
 * Asks the agent that runs a machine to do something now (exec, signal, ps) through the store,
 * and waits for its answer: the API never talks to a host directly.
 */
import { randomUUID } from 'node:crypto';
import { NearbyError } from '../errors.ts';
import { keys, type MachineRecord, type MachineReply, type MachineRequest } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { apiErrors } from './errors.ts';

type RequestBody = MachineRequest extends infer R
  ? R extends MachineRequest
    ? Omit<R, 'id' | 'machine' | 'created_at'>
    : never
  : never;

export async function askAgent<T>(
  store: Store,
  record: MachineRecord,
  body: RequestBody,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  const id = randomUUID();
  const request = { ...body, id, machine: record.id, created_at: new Date().toISOString() } as MachineRequest;
  const replyKey = keys.machineReply(id);
  await store.put(keys.machineRequest(record.host, id), request);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let reply: MachineReply | undefined;
  try {
    // A watch starts with current values, so a reply written before we got here is seen too.
    for await (const event of store.watch<MachineReply>(replyKey, { signal: controller.signal })) {
      if (event.type === 'put' && event.key === replyKey) {
        reply = event.value;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  if (!reply) {
    await store.delete(keys.machineRequest(record.host, id)).catch(() => {});
    throw apiErrors.agentTimeout(record.id, Math.round(timeoutMs / 1000));
  }
  await store.delete(replyKey);
  if (!reply.ok) throw new NearbyError(reply.error.code, reply.error.message, { status: reply.error.status });
  return reply.result as T;
}
