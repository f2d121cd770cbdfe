/**
 * Byte-level mutations every target shares: bit flips, interesting values, inserts, deletes,
 * truncation, repeats, dictionary tokens and splices with another corpus item. A target stacks
 * them with its structure-aware ones (mutate-tar.ts, mutate-text.ts).
 */
import type { Prng } from './prng.ts';

export type Mutation = (input: Buffer, rng: Prng, context: MutationContext) => Buffer;

export interface MutationContext {
  /** Other inputs to splice from: the corpus and what this run found interesting. */
  pool: readonly Buffer[];
  /** Tokens that mean something to the target (keys, `../`, `.wh.`, record types). */
  dictionary: readonly string[];
}

const INTERESTING_BYTES = [
  0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x22, 0x2e, 0x2f, 0x5c, 0x3d, 0x3b, 0x2c,
];

const flipBit: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const out = Buffer.from(input);
  out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
};

const setByte: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const out = Buffer.from(input);
  out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
  return out;
};

const insertBytes: Mutation = (input, rng) => {
  const at = rng.int(input.length + 1);
  return Buffer.concat([input.subarray(0, at), rng.bytes(rng.size(64) + 1), input.subarray(at)]);
};

const deleteBytes: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const at = rng.int(input.length);
  return Buffer.concat([input.subarray(0, at), input.subarray(at + rng.size(input.length - at) + 1)]);
};

const truncate: Mutation = (input, rng) => input.subarray(0, rng.int(input.length + 1));

const repeatChunk: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const start = rng.int(input.length);
  const chunk = input.subarray(start, start + rng.size(input.length - start) + 1);
  const times = rng.chance(0.9) ? rng.int(4) + 1 : rng.int(200) + 1;
  return Buffer.concat([input.subarray(0, start), ...Array(times + 1).fill(chunk), input.subarray(start)]);
};

const insertToken: Mutation = (input, rng, context) => {
  if (context.dictionary.length === 0) return input;
  const at = rng.int(input.length + 1);
  const token = Buffer.from(rng.pick(context.dictionary));
  const replace = rng.chance(0.5) ? token.length : 0;
  return Buffer.concat([input.subarray(0, at), token, input.subarray(at + replace)]);
};

const splice: Mutation = (input, rng, context) => {
  if (context.pool.length === 0) return input;
  const other = rng.pick(context.pool);
  const cut = rng.int(input.length + 1);
  const from = rng.int(other.length + 1);
  return Buffer.concat([input.subarray(0, cut), other.subarray(from)]);
};

export const byteMutations: readonly Mutation[] = [
  flipBit,
  setByte,
  insertBytes,
  deleteBytes,
  truncate,
  repeatChunk,
  insertToken,
  splice,
];

/** One to four mutations picked from `mutations`, applied in turn. */
export function mutateWith(
  input: Buffer,
  rng: Prng,
  context: MutationContext,
  mutations: readonly Mutation[],
): Buffer {
  let out = input;
  const count = 1 + rng.int(4);
  for (let i = 0; i < count; i++) out = rng.pick(mutations)(out, rng, context);
  return out;
}
