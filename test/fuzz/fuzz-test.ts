/**
 * The brief run `npm test` does of each fuzz target: the corpus, then a few seconds of mutations
 * (NEARBY_FUZZ_SECONDS, default 3) from a fresh seed (NEARBY_FUZZ_SEED to repeat one).
 */
import { test } from 'node:test';
import { randomSeed } from './prng.ts';
import { type FuzzTarget, fuzz } from './runner.ts';

export const briefSeconds = () => Number(process.env.NEARBY_FUZZ_SECONDS ?? 3);

export function fuzzTest(target: FuzzTarget): void {
  const seconds = briefSeconds();
  test(`fuzz ${target.name}: the corpus, then ${seconds} s of mutated inputs, keep every property`, async (t) => {
    const seed = process.env.NEARBY_FUZZ_SEED ? Number(process.env.NEARBY_FUZZ_SEED) : randomSeed();
    t.diagnostic(`seed ${seed} (repeat with NEARBY_FUZZ_SEED=${seed})`);
    const verbose = process.env.NEARBY_FUZZ_VERBOSE === '1';
    const report = await fuzz(target, {
      seconds,
      seed,
      onOutcome: verbose ? (outcome) => t.diagnostic(`new outcome: ${outcome.slice(0, 200)}`) : undefined,
    });
    t.diagnostic(
      `fuzz_${target.name.replaceAll('-', '_')}_executions=${report.executions} ` +
        `(corpus ${report.corpus}, ${report.outcomes} outcomes, ${report.seconds} s)`,
    );
  });
}
