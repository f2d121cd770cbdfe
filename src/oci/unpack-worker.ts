/**
 * Runs unpackImage in a worker thread, so that decompression, tar parsing and the unpacker's
 * synchronous file system calls never stall the event loop of the agent or API process.
 */
import { lstat, rm } from 'node:fs/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { NearbyError } from '../errors.ts';
import { type LayerFile, temporaryPath, type UnpackOptions, unpackImage } from './unpack.ts';

interface WorkerInput {
  nearbyUnpack: true;
  layers: LayerFile[];
  target: string;
  temp: string;
}

type WorkerMessage =
  | { kind: 'warning'; message: string }
  | { kind: 'done' }
  | { kind: 'error'; nearby: boolean; code?: string; message: string; status?: number; hint?: string };

/** unpackImage, off the calling thread; aborting stops the worker and removes its temp dir. */
export async function unpackInWorker(
  layers: LayerFile[],
  target: string,
  options: UnpackOptions = {},
): Promise<string> {
  options.signal?.throwIfAborted();
  if (
    await lstat(target).then(
      () => true,
      () => false,
    )
  )
    return target;
  const temp = temporaryPath(target);
  const input: WorkerInput = { nearbyUnpack: true, layers, target, temp };
  const worker = new Worker(new URL(import.meta.url), { workerData: input });
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const settle = (error: unknown) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve(target);
      else reject(error);
    };
    const onAbort = () => {
      void worker
        .terminate()
        .then(() => rm(temp, { recursive: true, force: true }))
        .finally(() => settle(options.signal?.reason));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'warning') options.onWarning?.(message.message);
      else if (message.kind === 'done') settle(undefined);
      else if (message.nearby) {
        settle(
          new NearbyError(message.code ?? 'IMAGE_PULL_FAILED', message.message, {
            status: message.status,
            hint: message.hint,
          }),
        );
      } else {
        settle(Object.assign(new Error(message.message), { code: message.code }));
      }
    });
    worker.on('error', (error) => settle(error));
    worker.on('exit', (code) =>
      settle(new Error(`the unpack worker exited with code ${code} before finishing`)),
    );
  });
}

if (!isMainThread && (workerData as WorkerInput | undefined)?.nearbyUnpack) {
  const { layers, target, temp } = workerData as WorkerInput;
  const post = (message: WorkerMessage) => parentPort?.postMessage(message);
  unpackImage(layers, target, { temp, onWarning: (message) => post({ kind: 'warning', message }) }).then(
    () => post({ kind: 'done' }),
    (error: unknown) => {
      if (error instanceof NearbyError) {
        post({
          kind: 'error',
          nearby: true,
          code: error.code,
          message: error.message,
          status: error.status,
          hint: error.hint,
        });
      } else {
        const failure = error as NodeJS.ErrnoException;
        post({ kind: 'error', nearby: false, code: failure.code, message: failure.message ?? String(error) });
      }
    },
  );
}
