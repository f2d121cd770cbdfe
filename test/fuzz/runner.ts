/**
 * The fuzz loop: every corpus item first (the regressions), then mutations of the corpus for a
 * while, each checked by the target's properties. An input that breaks one is shrunk, saved into
 * the corpus, and reported with the run's seed and iteration, so it fails every later run too.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { byteMutations, type MutationContext, mutateWith } from './mutate.ts';
import { Prng } from './prng.ts';

export const CORPUS_ROOT = join(import.meta.dirname, 'corpus');

/** One target, started once per run: `run` checks one input and names its outcome. */
export interface Harness {
  /** Throws when a property breaks; otherwise returns the outcome (`ok`, an error code…). */
  run(input: Buffer): Promise<string>;
  /** Structure-aware mutations; byte mutations only when absent. */
  mutate?(input: Buffer, rng: Prng, context: MutationContext): Buffer;
  /** Inputs built in code, beside the corpus files (e.g. one body per API route). */
  seeds?: Buffer[];
  dictionary: readonly string[];
  close(): Promise<void>;
}

export interface FuzzTarget {
  name: string;
  /** File name ending of its corpus items. */
  ext: string;
  start(): Promise<Harness>;
}

export interface FuzzOptions {
  seconds: number;
  seed: number;
  /** Told each outcome the first time it is seen (`npm run fuzz -- --verbose`). */
  onOutcome?: (outcome: string) => void;
  /** Called now and then with progress, for long runs. */
  onProgress?: (report: FuzzReport) => void;
}

export interface FuzzReport {
  target: string;
  seed: number;
  corpus: number;
  executions: number;
  /** Distinct outcomes seen: a rough measure of how much of the target the inputs reach. */
  outcomes: number;
  seconds: number;
}

/** A broken property, with what a developer needs to repeat it. */
export class FuzzFailure extends Error {
  readonly input: Buffer;
  readonly saved: string;

  constructor(message: string, input: Buffer, saved: string, cause: unknown) {
    super(message, { cause });
    this.name = 'FuzzFailure';
    this.input = input;
    this.saved = saved;
  }
}

/** A hang is a failure too: each input gets this long. */
const INPUT_TIMEOUT_MS = 30_000;
/** What this run keeps to mutate further, beside the corpus: by count and by bytes. */
const POOL_LIMIT = 2_000;
const POOL_BYTES = 64 * 1024 * 1024;
const SHRINK_RUNS = 150;
const SHRINK_MS = 20_000;

export function corpusDir(target: string): string {
  return join(CORPUS_ROOT, target);
}

export function readCorpus(target: string): { name: string; data: Buffer }[] {
  const dir = corpusDir(target);
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names
    .filter((name) => !name.startsWith('.') && name !== 'README')
    .map((name) => ({ name, data: readFileSync(join(dir, name)) }));
}

export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const harness = await target.start();
  try {
    const corpus = readCorpus(target.name);
    for (const item of corpus) {
      try {
        await runOnce(harness, item.data);
      } catch (error) {
        throw new FuzzFailure(
          `fuzz ${target.name}: corpus item ${item.name} fails: ${describe(error)}`,
          item.data,
          join(corpusDir(target.name), item.name),
          error,
        );
      }
    }
    const pool = [...corpus.map((item) => item.data), ...(harness.seeds ?? [])];
    if (pool.length === 0) pool.push(Buffer.alloc(0));
    const context: MutationContext = { pool, dictionary: harness.dictionary };
    const rng = new Prng(options.seed);
    const seen = new Set<string>();
    let poolBytes = 0;
    const deadline = started + options.seconds * 1000;
    let executions = corpus.length;
    const report = (): FuzzReport => ({
      target: target.name,
      seed: options.seed,
      corpus: corpus.length,
      executions,
      outcomes: seen.size,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    });
    for (let iteration = 0; performance.now() < deadline; iteration++) {
      const parent = rng.pick(pool);
      const input = harness.mutate
        ? harness.mutate(parent, rng, context)
        : mutateWith(parent, rng, context, byteMutations);
      let outcome: string;
      try {
        outcome = await runOnce(harness, input);
      } catch (error) {
        const smallest = await shrink(harness, input, signature(error));
        const saved = join(corpusDir(target.name), `found-${options.seed}-${iteration}.${target.ext}`);
        mkdirSync(corpusDir(target.name), { recursive: true });
        writeFileSync(saved, smallest);
        throw new FuzzFailure(
          `fuzz ${target.name}: seed ${options.seed}, iteration ${iteration}: ${describe(error)}\n` +
            `  the input is saved as ${saved} (a regression from now on); ` +
            `repeat the run with NEARBY_FUZZ_SEED=${options.seed}`,
          smallest,
          saved,
          error,
        );
      }
      executions++;
      // Inputs that reach an outcome not seen yet are worth mutating further.
      if (!seen.has(outcome)) {
        seen.add(outcome);
        options.onOutcome?.(outcome);
        if (pool.length < POOL_LIMIT && poolBytes + input.length <= POOL_BYTES) {
          pool.push(input);
          poolBytes += input.length;
        }
      }
      if (executions % 500 === 0) options.onProgress?.(report());
    }
    return report();
  } finally {
    await harness.close();
  }
}

async function runOnce(harness: Harness, input: Buffer): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const hang = new Error(`no outcome within ${INPUT_TIMEOUT_MS / 1000} s (a hang)`);
      hang.name = 'FuzzHang';
      reject(hang);
    }, INPUT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([harness.run(input), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A smaller input that still fails (chunks cut out, then the tail), so the regression reads well. */
async function shrink(harness: Harness, input: Buffer, failure: string): Promise<Buffer> {
  let smallest = input;
  let runs = 0;
  // A hang takes INPUT_TIMEOUT_MS a try: not worth shrinking.
  if (failure.includes('FuzzHang')) return smallest;
  const deadline = performance.now() + SHRINK_MS;
  const fails = async (candidate: Buffer) => {
    if (performance.now() > deadline) runs = SHRINK_RUNS;
    runs++;
    try {
      await runOnce(harness, candidate);
      return false;
    } catch (error) {
      return signature(error) === failure;
    }
  };
  for (let chunk = smallest.length >> 1; chunk >= 1 && runs < SHRINK_RUNS; chunk >>= 1) {
    for (let at = 0; at < smallest.length && runs < SHRINK_RUNS; ) {
      const candidate = Buffer.concat([smallest.subarray(0, at), smallest.subarray(at + chunk)]);
      if (await fails(candidate)) smallest = candidate;
      else at += chunk;
    }
  }
  return smallest;
}

/** The kind of a failure (its class and code), so shrinking keeps the same bug, not another. */
function signature(error: unknown): string {
  if (!(error instanceof Error)) return 'thrown';
  const reason = error.message.replace(/"[^"]*"|'[^']*'|\d+/g, '').slice(0, 40);
  return `${error.name} ${(error as { code?: unknown }).code} ${reason}`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}
