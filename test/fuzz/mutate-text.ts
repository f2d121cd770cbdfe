/**
 * Structure-aware mutations of text inputs: TOML by its lines (keys renamed, values of another
 * type, sections added, lines doubled or dropped, deep nesting) and JSON by its tree (a node
 * replaced by a value of another type, keys dropped or added, deep nesting). Byte mutations join
 * in now and then, so broken syntax is tried too.
 */
import { byteMutations, type Mutation, type MutationContext, mutateWith } from './mutate.ts';
import type { Prng } from './prng.ts';

const TOML_VALUES = [
  '""',
  '"x"',
  '"10s"',
  '"1gb"',
  '"512mb"',
  '"-5s"',
  '"1.5"',
  '"fra"',
  '"SIGTERM"',
  '"off"',
  '"stop"',
  '"/data"',
  '"../x"',
  '"\\u0000"',
  '0',
  '-1',
  '1',
  '65535',
  '65536',
  '9223372036854775807',
  '-9223372036854775808',
  '0.5',
  '1e308',
  'inf',
  '-inf',
  'nan',
  'true',
  'false',
  '[]',
  '[1, "a"]',
  '["a", "b"]',
  '{}',
  '{ a = 1 }',
  '1979-05-27T07:32:00Z',
  '07:32:00',
  "'''multi\nline'''",
];

function tomlValue(rng: Prng): string {
  if (rng.chance(0.05)) {
    const depth = 1 + rng.int(3000);
    return rng.chance(0.5)
      ? `${'['.repeat(depth)}${']'.repeat(depth)}`
      : `${'{a='.repeat(depth)}1${'}'.repeat(depth)}`;
  }
  if (rng.chance(0.05)) return JSON.stringify('x'.repeat(rng.int(20_000)));
  return rng.pick(TOML_VALUES);
}

const tomlLines: Mutation = (input, rng, context) => {
  const lines = input.toString('utf8').split('\n');
  const at = rng.int(lines.length);
  const key = () => rng.pick(context.dictionary);
  switch (rng.int(8)) {
    case 0: {
      // A value of another type under the same key.
      const match = /^(\s*[^=[#]+?)\s*=/.exec(lines[at]);
      lines[at] = match ? `${match[1]} = ${tomlValue(rng)}` : `${key()} = ${tomlValue(rng)}`;
      break;
    }
    case 1: {
      // Another key for the same value.
      const match = /=(.*)$/.exec(lines[at]);
      lines[at] = `${key()} =${match ? match[1] : ` ${tomlValue(rng)}`}`;
      break;
    }
    case 2:
      lines.splice(at, 0, `${key()} = ${tomlValue(rng)}`);
      break;
    case 3:
      lines.splice(at, 0, rng.chance(0.5) ? `[${key()}]` : `[[${key()}]]`);
      break;
    case 4:
      lines.splice(at, 0, lines[rng.int(lines.length)]);
      break;
    case 5:
      lines.splice(at, 1);
      break;
    case 6: {
      const other = rng.pick(context.pool).toString('utf8').split('\n');
      const from = rng.int(other.length);
      lines.splice(at, 0, ...other.slice(from, from + 1 + rng.int(8)));
      break;
    }
    default:
      return mutateWith(input, rng, context, byteMutations);
  }
  return Buffer.from(lines.join('\n'));
};

export function mutateToml(input: Buffer, rng: Prng, context: MutationContext): Buffer {
  return mutateWith(input, rng, context, [tomlLines, tomlLines, tomlLines, ...byteMutations]);
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function jsonValue(rng: Prng, context: MutationContext, depth = 0): Json {
  switch (rng.int(depth > 2 ? 7 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 0.5, 65535, 65536, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e-308]);
    case 3:
      return rng.pick(['', 'x', '10s', '1gb', 'fra', 'started', 'sha256:', '../..', '\u0000', 'é', '%00']);
    case 4:
      return 'x'.repeat(rng.chance(0.5) ? 64 : rng.int(300_000));
    case 5:
      return rng.pick(context.dictionary);
    case 6: {
      // Deep nesting, past what a recursive walker can take.
      let nested: Json = 1;
      for (let level = rng.chance(0.5) ? rng.int(100) : rng.int(5_000); level > 0; level--)
        nested = rng.chance(0.5) ? [nested] : { a: nested };
      return nested;
    }
    case 7:
      return Array.from({ length: rng.int(4) }, () => jsonValue(rng, context, depth + 1));
    default: {
      const object: { [key: string]: Json } = {};
      for (let n = rng.int(4); n > 0; n--)
        object[rng.pick(context.dictionary)] = jsonValue(rng, context, depth + 1);
      return object;
    }
  }
}

/** Every container in the tree with its keys, to pick one node to change. */
function containers(value: Json, found: (Json[] | { [key: string]: Json })[] = [], depth = 0) {
  if (value !== null && typeof value === 'object') {
    found.push(value);
    if (found.length < 2_000 && depth < 50)
      for (const child of Object.values(value)) containers(child, found, depth + 1);
  }
  return found;
}

const jsonTree: Mutation = (input, rng, context) => {
  let tree: Json;
  try {
    tree = JSON.parse(input.toString('utf8')) as Json;
  } catch {
    return mutateWith(input, rng, context, byteMutations);
  }
  const all = containers(tree);
  if (all.length === 0 || rng.chance(0.05)) return Buffer.from(stringify(jsonValue(rng, context)) ?? '{}');
  const node = rng.pick(all);
  const keys = Object.keys(node);
  const target = node as Record<string, Json>;
  const existing = keys.length > 0 ? rng.pick(keys) : undefined;
  const choice = rng.int(4);
  if (choice === 0 && existing !== undefined) {
    if (Array.isArray(node)) node.splice(Number(existing), 1);
    else delete target[existing];
  } else if (choice === 1 && !Array.isArray(node)) {
    target[rng.pick(context.dictionary)] = jsonValue(rng, context);
  } else if (choice === 2 && existing !== undefined) {
    // The same key with its value copied from another key: a string where a number was.
    target[existing] = target[rng.pick(keys)];
  } else if (existing !== undefined) {
    target[existing] = jsonValue(rng, context);
  } else if (Array.isArray(node)) {
    node.push(jsonValue(rng, context));
  }
  let text = stringify(tree);
  if (text === undefined) return input;
  // A key JSON.parse keeps as an own property but an object literal would not.
  if (rng.chance(0.03)) text = text.replace(/^\{/, '{"__proto__":{"admin":true},');
  return Buffer.from(text);
};

/** JSON text, or undefined for a tree nested past what JSON.stringify takes. */
function stringify(value: Json): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

export function mutateJson(input: Buffer, rng: Prng, context: MutationContext): Buffer {
  let out = jsonTree(input, rng, context);
  if (rng.chance(0.4)) out = jsonTree(out, rng, context);
  return rng.chance(0.1) ? mutateWith(out, rng, context, byteMutations) : out;
}
