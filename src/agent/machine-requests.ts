/**
 * Serves one-off requests for this host's machines (exec, signal, ps) that the API leaves in
 * `machine-requests/<host>/…`, and answers in `machine-replies/…`. Requests nobody picked up in
 * time (the agent was down) are dropped: the API has answered 504 for them already.
 */
import type { Logger } from 'pino';
import { errorMessage, isNearbyError } from '../errors.ts';
import { keys, type MachineReply, type MachineRequest } from '../model/mod.ts';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/mod.ts';
import { StoreOutage, untilStoreAnswers } from '../store/outage.ts';
import { processTree } from './processes.ts';
import type { RuntimeDriver } from './runtime/types.ts';

const STALE_MS = 120_000;

export async function serveMachineRequests(
  store: Store,
  host: string,
  runtime: RuntimeDriver,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const outage = new StoreOutage(log, 'agent machine requests');
  const requests = follow<MachineRequest>(store, keys.machineRequests(host), {
    signal,
    log,
    what: 'agent watch of machine requests',
  });
  for await (const event of requests) {
    if (event.type !== 'put') continue;
    const request = event.value;
    void (async () => {
      if (Date.now() - Date.parse(request.created_at) < STALE_MS) {
        const reply = await carryOut(runtime, request);
        // The reply is kept until the store takes it: the API may still be waiting for it.
        await untilStoreAnswers(() => store.put(keys.machineReply(request.id), reply), outage, signal);
      }
      await untilStoreAnswers(() => store.delete(event.key), outage, signal);
    })().catch((error) => log.warn({ err: error, request: request.id }, 'machine request failed'));
  }
}

async function carryOut(runtime: RuntimeDriver, request: MachineRequest): Promise<MachineReply> {
  try {
    switch (request.kind) {
      case 'exec': {
        const result = await runtime.exec(request.machine, request.command, {
          timeoutMs: request.timeout_ms,
        });
        return {
          ok: true,
          result: { stdout: result.stdout, stderr: result.stderr, exit_code: result.exitCode },
        };
      }
      case 'signal':
        await runtime.kill(request.machine, request.signal);
        return { ok: true, result: {} };
      case 'ps': {
        const info = await runtime.inspect(request.machine);
        if (info.state !== 'running' || !info.pid) {
          return {
            ok: false,
            error: {
              code: 'MACHINE_STATE',
              message: `machine ${request.machine} is not running`,
              status: 409,
            },
          };
        }
        return { ok: true, result: await processTree(info.pid) };
      }
    }
  } catch (error) {
    const status = isNearbyError(error) && error.status < 600 ? error.status : 500;
    const code = isNearbyError(error) ? error.code : 'INTERNAL';
    return { ok: false, error: { code, message: errorMessage(error), status } };
  }
}
