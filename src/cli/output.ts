/** Terminal output: aligned tables, relative times, and errors as message + hint (never a stack). */
import { isNearbyError } from '../errors.ts';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : (cell ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function shortDigest(digest: string | undefined): string {
  return digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '';
}

/** Prints an error for a human and returns the exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (isNearbyError(error)) {
    process.stderr.write(`Error: ${error.message}\n`);
    if (error.hint) process.stderr.write(`Hint: ${error.hint}\n`);
    if (debug && error.cause)
      process.stderr.write(`Cause: ${String((error.cause as Error).stack ?? error.cause)}\n`);
    if (debug) process.stderr.write(`${error.stack}\n`);
    return error.code === 'USAGE' ? 2 : 1;
  }
  process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
  if (debug && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write('Hint: run again with --debug for details\n');
  return 1;
}
