/**
 * The flags of `nearby server|api|agent|proxy|node` as data: one declaration gives parseArgs its
 * options, `--help` its lines, and settings their value (flag, then `NEARBY_*` variable, then
 * default). Each entrypoint lists only the flags its parts need.
 */
import type { Options, Values } from '../cli/command.ts';

export interface Flag {
  name: string;
  /** The environment variable, without `NEARBY_`. */
  env: string;
  /** What the value looks like in help (`ADDR`, `DUR`); '' for a boolean. */
  arg: string;
  help: string;
  /** Shown in help as the default; the settings code holds the real one. */
  shown?: string;
  multiple?: boolean;
}

export function flagOptions(flags: readonly Flag[]): Options {
  return Object.fromEntries(
    flags.map((flag) => [
      flag.name,
      flag.arg === ''
        ? { type: 'boolean' as const }
        : flag.multiple
          ? { type: 'string' as const, multiple: true as const }
          : { type: 'string' as const },
    ]),
  );
}

export function flagHelp(flags: readonly Flag[]): string {
  return flags
    .map((flag) => {
      const head = `  --${flag.name}${flag.arg ? ` ${flag.arg}` : ''}`;
      const tail = `${flag.help} [NEARBY_${flag.env}]${flag.shown ? ` (${flag.shown})` : ''}`;
      return head.length < 27 ? `${head.padEnd(27)}${tail}` : `${head}\n${' '.repeat(27)}${tail}`;
    })
    .join('\n');
}

/** Reads one flag's value: the flag, else its environment variable, else undefined. */
export function flagValue(flags: readonly Flag[], values: Values, env: NodeJS.ProcessEnv) {
  return (name: string): string | undefined => {
    const flag = flags.find((candidate) => candidate.name === name);
    if (!flag) return undefined;
    const given = values[name];
    if (typeof given === 'string') return given;
    return env[`NEARBY_${flag.env}`] || undefined;
  };
}

/** Flags in the order of their first appearance, without repeats (parts share some). */
export function unionFlags(...lists: (readonly Flag[])[]): Flag[] {
  const seen = new Map<string, Flag>();
  for (const flag of lists.flat()) if (!seen.has(flag.name)) seen.set(flag.name, flag);
  return [...seen.values()];
}
