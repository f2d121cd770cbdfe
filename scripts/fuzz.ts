/**
 * `npm run fuzz -- [--target NAME[,NAME…]] [--seconds N] [--seed S] [--verbose]`: the fuzz targets
 * of test/fuzz for longer than `npm test` runs them (60 s each by default). A failure prints its
 * seed and saves its input into test/fuzz/corpus/<target>/, where every later run replays it.
 */
import { parseArgs } from 'node:util';
import { randomSeed } from '../test/fuzz/prng.ts';
import { FuzzFailure, fuzz } from '../test/fuzz/runner.ts';
import { fuzzTargets } from '../test/fuzz/targets/mod.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
const names = fuzzTargets.map((target) => target.name);
if (values.help) {
  console.log(`usage: npm run fuzz -- [--target ${names.join('|')}] [--seconds N] [--seed S] [--verbose]`);
  process.exit(0);
}
const wanted = (values.target ?? names).flatMap((name) => name.split(','));
const unknown = wanted.filter((name) => !names.includes(name));
if (unknown.length > 0) {
  console.error(`fuzz: no target ${unknown.join(', ')}; the targets are ${names.join(', ')}`);
  process.exit(2);
}
const seconds = Number(values.seconds);
if (!(seconds > 0)) {
  console.error(`fuzz: --seconds wants a positive number, got ${values.seconds}`);
  process.exit(2);
}
let failed = false;
for (const target of fuzzTargets.filter((candidate) => wanted.includes(candidate.name))) {
  const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
  console.log(`fuzz ${target.name}: ${seconds} s from seed ${seed}`);
  try {
    const report = await fuzz(target, {
      seconds,
      seed,
      onOutcome: values.verbose
        ? (outcome) => console.log(`  new outcome: ${outcome.slice(0, 200)}`)
        : undefined,
      onProgress: process.stdout.isTTY
        ? (progress) =>
            process.stdout.write(`  ${progress.executions} executions, ${progress.outcomes} outcomes\r`)
        : undefined,
    });
    console.log(
      `fuzz_${target.name.replaceAll('-', '_')}_executions=${report.executions} ` +
        `(${Math.round(report.executions / report.seconds)}/s, corpus ${report.corpus}, ${report.outcomes} outcomes, ${report.seconds} s)`,
    );
  } catch (error) {
    failed = true;
    console.error(error instanceof FuzzFailure ? `\n${error.message}\n  cause: ${error.cause}` : error);
  }
}
process.exit(failed ? 1 : 0);
