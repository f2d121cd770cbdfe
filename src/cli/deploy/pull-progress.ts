/**
 * Image pull progress while a deploy waits for a machine: its agent reports bytes fetched in the
 * machine's status; this polls the machine's view and prints a line when the pull moves on.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { formatBytes } from '../../build/format-bytes.ts';
import type { MachineView, PullStatus } from '../../model/mod.ts';
import type { ApiCalls } from '../client.ts';
import { machinesApi } from '../machines-client.ts';

const POLL_MS = 500;
/** A running pull is printed again once it has moved on by this share of its bytes: a few lines, not a flood. */
const STEPS = 10;

/** `  Machine X pulling reg/app@sha256:0123456789ab… 3.1 MB / 7.9 MB` (`pulled` once every layer is in). */
export function pullLine(id: string, pull: PullStatus): string {
  const ref = pull.ref.replace(/@(sha256:[0-9a-f]{12})[0-9a-f]+$/, '@$1…');
  const complete = pull.layers_done === pull.layers_total;
  return `  Machine ${id} ${complete ? 'pulled' : 'pulling'} ${ref} ${formatBytes(pull.done_bytes)} / ${formatBytes(pull.total_bytes)}`;
}

/** Which of the few printed stages a pull is at: a step of its bytes, or done. */
function stage(pull: PullStatus): string {
  if (pull.layers_done === pull.layers_total) return `${pull.ref} done`;
  const share = pull.total_bytes > 0 ? pull.done_bytes / pull.total_bytes : 0;
  return `${pull.ref} ${Math.floor(share * STEPS)}`;
}

/**
 * Runs `until` (the wait for the machine to start) while printing the machine's pull progress; after
 * it, one last look, so a pull faster than the poll still shows its byte count.
 */
export async function followPull(
  options: { api: ApiCalls; app: string; out: (text: string) => void },
  machine: Pick<MachineView, 'id' | 'instance_id'>,
  until: () => Promise<void>,
): Promise<void> {
  const { api, app, out } = options;
  let printed = '';
  const look = async () => {
    const view = await machinesApi.get(api, app, machine.id);
    const pull = view.instance_id === machine.instance_id ? view.nearby.pull : undefined;
    if (!pull || stage(pull) === printed) return;
    printed = stage(pull);
    out(pullLine(machine.id, pull));
  };
  const stop = new AbortController();
  const polling = (async () => {
    while (!stop.signal.aborted && !printed.endsWith(' done')) {
      // Progress is only shown, never relied on: a failed look waits for the next one.
      await look().catch(() => {});
      await delay(POLL_MS, undefined, { signal: stop.signal }).catch(() => {});
    }
  })();
  try {
    await until();
  } finally {
    stop.abort();
    await polling;
  }
  if (!printed.endsWith(' done')) await look().catch(() => {});
}
