/**
 * The spawn helper (run-command.ts): a small Node process that spawns host commands for
 * `nearby server` and reports their output over the IPC channel. It loads nothing of nearby's but
 * run-command.ts, so its heap stays small and each fork it makes copies little (docs/perf.md,
 * "Spawning from a small process"). It exits with its parent: when the channel closes.
 */
import { type HelperReply, type HelperRequest, runCommandHere } from './run-command.ts';

/** Request id → its abort, for the parent's `{ abort: id }`. */
const running = new Map<number, AbortController>();

function reply(message: HelperReply): void {
  if (process.connected) process.send?.(message);
}

function run({ id, file, args, ...options }: HelperRequest): void {
  const abort = new AbortController();
  running.set(id, abort);
  runCommandHere(file, args, { ...options, signal: abort.signal })
    .then(
      (result) => reply({ id, ...result }),
      (error: NodeJS.ErrnoException) =>
        reply({ id, error: { code: error.code ?? 'ERROR', message: error.message } }),
    )
    .finally(() => running.delete(id));
}

process.on('message', (message: HelperRequest | { abort: number }) => {
  if ('abort' in message) running.get(message.abort)?.abort();
  else run(message);
});
// nearby exited (or closed the channel): commands still running go on, as they would have.
process.on('disconnect', () => process.exit(0));
reply({ ready: true });
