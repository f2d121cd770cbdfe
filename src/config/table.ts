/**
 * The reader every section schema uses: typed accessors over one TOML table that record issues
 * (with key path and line) instead of throwing, and remember which keys were read so that any
 * other key is reported as unknown, with a "did you mean".
 */

import { parseDurationString } from '../model/duration.ts';
import { joinKey, type LineIndex } from './lines.ts';
import { suggest } from './suggest.ts';
import type { ConfigIssue } from './types.ts';

export class Context {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  readonly lines: LineIndex;

  constructor(lines: LineIndex) {
    this.lines = lines;
  }

  /** An error about the value at `path`: the message is prefixed with the key as a user writes it. */
  error(path: string, message: string): void {
    this.errors.push(this.issue(path, `${label(path)}: ${message}`));
  }

  warn(path: string, message: string): void {
    this.warnings.push(this.issue(path, `${label(path)}: ${message}`));
  }

  issue(path: string, message: string): ConfigIssue {
    const line = this.lines.lineOf(path);
    return line === undefined ? { path, message } : { path, message, line };
  }
}

/** `services[0].ports[1].port` → `[services[0].ports[1]] port`; top-level keys stay bare. */
export function label(path: string): string {
  const cut = path.lastIndexOf('.');
  if (cut < 0) return path;
  return `[${path.slice(0, cut)}] ${path.slice(cut + 1)}`;
}

export const join = joinKey;

/** How a wrong value is shown in a message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `an array ${JSON.stringify(value)}`.slice(0, 60);
  if (isTable(value)) return 'a table';
  if (value instanceof Date) return `a date ${value.toISOString()}`;
  return String(value);
}

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

interface IntOptions {
  min?: number;
  max?: number;
  /** Fly's own parser accepts ports written as strings ("443"): so do we. */
  acceptString?: boolean;
  required?: boolean;
  what?: string;
}

export class Table {
  private readonly known = new Set<string>();
  readonly ctx: Context;
  readonly path: string;
  readonly raw: Record<string, unknown>;

  constructor(ctx: Context, path: string, raw: Record<string, unknown>) {
    this.ctx = ctx;
    this.path = path;
    this.raw = raw;
  }

  /** A Table over `value`, or an error naming what was expected when it is not a table. */
  static from(ctx: Context, path: string, value: unknown): Table | undefined {
    if (isTable(value)) return new Table(ctx, path, value);
    ctx.error(path, `expected a table, got ${show(value)}`);
    return undefined;
  }

  at(key: string): string {
    return join(this.path, key);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  /** Marks `key` known and returns its raw value. */
  take(key: string): unknown {
    this.known.add(key);
    return this.raw[key];
  }

  string(
    key: string,
    options: { required?: boolean; pattern?: RegExp; what?: string } = {},
  ): string | undefined {
    const value = this.take(key);
    if (value === undefined) return this.missing(key, options.required, options.what ?? 'a string');
    if (typeof value !== 'string') return this.wrong(key, options.what ?? 'a string', value);
    if (options.pattern && !options.pattern.test(value))
      return this.wrong(key, options.what ?? 'a string', value);
    return value;
  }

  int(key: string, options: IntOptions = {}): number | undefined {
    const value = this.take(key);
    const min = options.min ?? 0;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? ' ≥ 0' : ` ≥ ${min}`) : ` ${min}–${max}`;
    const what = options.what ?? `an integer${range}`;
    if (value === undefined) return this.missing(key, options.required, what);
    let number: number | undefined;
    if (typeof value === 'number') number = value;
    else if (typeof value === 'string' && options.acceptString && /^\s*\d+\s*$/.test(value))
      number = Number(value);
    if (number === undefined || !Number.isInteger(number) || number < min || number > max) {
      return this.wrong(key, what, value);
    }
    return number;
  }

  number(key: string, options: { min?: number; what?: string } = {}): number | undefined {
    const value = this.take(key);
    const what = options.what ?? 'a number';
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < (options.min ?? 0)) {
      return this.wrong(key, what, value);
    }
    return value;
  }

  bool(key: string): boolean | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') return this.wrong(key, 'true or false', value);
    return value;
  }

  /** A duration in ms. A bare number is in `bareUnit`, which differs per key in Fly (see docs/config.md). */
  duration(key: string, bareUnit: 's' | 'ms'): number | undefined {
    const value = this.take(key);
    const what = `a duration like "10s" or "1m30s"${bareUnit === 's' ? ' (or a number of seconds)' : ''}`;
    if (value === undefined) return undefined;
    const ms = typeof value === 'number' && bareUnit === 's' ? value * 1000 : value;
    // A safe integer: TOML's 1e30 is an integer to JavaScript, but no duration.
    if (typeof ms === 'number' && Number.isSafeInteger(ms) && ms >= 0) return ms;
    if (typeof value === 'string') {
      const ms = parseDurationString(value);
      if (ms !== undefined) return ms;
      if (/^\s*\d+(\.\d+)?\s*$/.test(value)) {
        this.ctx.error(
          this.at(key),
          `${JSON.stringify(value)} has no unit: write "${value.trim()}s" for seconds (expected ${what})`,
        );
        return undefined;
      }
    }
    return this.wrong(key, what, value);
  }

  /** A list of strings; `acceptString` takes a lone string as a one-item list, as Fly does. */
  strings(key: string, options: { acceptString?: boolean } = {}): string[] | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (typeof value === 'string' && options.acceptString) return [value];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      return this.wrong(key, 'a list of strings', value);
    }
    return value as string[];
  }

  oneOf<T extends string>(
    key: string,
    values: readonly T[],
    options: { required?: boolean } = {},
  ): T | undefined {
    const value = this.take(key);
    const what = `one of ${values.map((item) => JSON.stringify(item)).join(', ')}`;
    if (value === undefined) return this.missing(key, options.required, what);
    const match =
      typeof value === 'string'
        ? values.find((item) => item.toLowerCase() === value.toLowerCase())
        : undefined;
    if (match === undefined) {
      const hint = typeof value === 'string' ? suggest(value, values) : undefined;
      return this.wrong(key, hint ? `${what} (did you mean "${hint}"?)` : what, value);
    }
    return match;
  }

  table(key: string): Table | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    return Table.from(this.ctx, this.at(key), value);
  }

  /** `[[key]]` entries; a single `[key]` table is taken as a list of one, as Fly's own parser does. */
  tables(key: string, path = this.at(key)): Table[] {
    const value = this.take(key);
    if (value === undefined) return [];
    if (isTable(value)) return [new Table(this.ctx, path, value)];
    if (!Array.isArray(value)) {
      this.ctx.error(path, `expected [[${path}]] tables, got ${show(value)}`);
      return [];
    }
    return value.flatMap((item, index) => Table.from(this.ctx, `${path}[${index}]`, item) ?? []);
  }

  /** A table of string values; numbers and booleans become strings when `coerce` (Fly does so for [env]). */
  stringMap(key: string, options: { coerce?: boolean } = {}): Record<string, string> | undefined {
    const table = this.table(key);
    if (!table) return undefined;
    const result: Record<string, string> = {};
    for (const [name, value] of Object.entries(table.raw)) {
      table.take(name);
      if (typeof value === 'string') result[name] = value;
      else if (options.coerce && (typeof value === 'number' || typeof value === 'boolean'))
        result[name] = String(value);
      else this.ctx.error(table.at(name), `expected a string, got ${show(value)}`);
    }
    return result;
  }

  /** A key Fly documents that nearby does not act on yet: reported by name, its value kept as read. */
  unsupported(key: string, why: string): unknown {
    const value = this.take(key);
    this.notSupported(key, why);
    return value;
  }

  /** Warns that `key`, read and type-checked by another accessor, is not acted on yet. */
  notSupported(key: string, why: string): void {
    if (this.raw[key] !== undefined) this.ctx.warn(this.at(key), `not supported yet — ${why}`);
  }

  /** A key of Fly's older (Nomad) platform that has no effect on machines: reported, then dropped. */
  legacy(key: string, why: string, quietWhenEmpty = false): void {
    const value = this.take(key);
    if (value === undefined) return;
    if (quietWhenEmpty && Array.isArray(value) && value.length === 0) return;
    this.ctx.warn(this.at(key), `ignored — ${why}`);
  }

  /** Free-form tables (e.g. [build.settings]): every key is accepted as is. */
  finishAll(): void {
    for (const key of Object.keys(this.raw)) this.known.add(key);
  }

  /** Reports every key not read by the schema as unknown; `elsewhere` names keys that belong to another table. */
  finish(elsewhere: Record<string, string> = {}): void {
    for (const [key, value] of Object.entries(this.raw)) {
      if (this.known.has(key)) continue;
      const path = this.at(key);
      const isSection = isTable(value) || (Array.isArray(value) && value.length > 0 && value.every(isTable));
      const name = (full: string): string => (isSection ? `[${full}]` : label(full));
      const where = elsewhere[key];
      const hint = suggest(key, this.known);
      let message = `unknown key ${name(path)}`;
      if (where) message += ` — ${key} belongs in ${where}`;
      else if (hint) message += ` — did you mean ${name(this.at(hint))}?`;
      this.ctx.errors.push(this.ctx.issue(path, message));
    }
  }

  private missing<T>(key: string, required: boolean | undefined, what: string): T | undefined {
    if (required) this.ctx.error(this.at(key), `is required: expected ${what}`);
    return undefined;
  }

  private wrong<T>(key: string, what: string, value: unknown): T | undefined {
    this.ctx.error(this.at(key), `expected ${what}, got ${show(value)}`);
    return undefined;
  }
}
