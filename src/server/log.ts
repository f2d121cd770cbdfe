/**
 * The process logger: pino, as JSON lines (for machines) or as short text lines (for a person
 * watching `npm run up`), on stderr. Each part's lines carry `part` once: the process that starts
 * a part names it (`log.child({ part: 'proxy' })`) and a part names its own pieces `component`,
 * because pino appends a child's keys to its parent's, so naming a part twice repeats the key.
 */
import { type Logger, pino } from 'pino';

const levels: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const hidden = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'part']);

export function createLogger(
  format: 'json' | 'text',
  level = process.env.NEARBY_LOG_LEVEL ?? 'info',
  /** Where lines go (stderr); for tests. */
  destination?: { write(line: string): unknown },
): Logger {
  if (format === 'json') return pino({ level, base: undefined }, destination ?? pino.destination(2));
  const out = destination ?? process.stderr;
  return pino({ level, base: undefined }, { write: (line: string) => out.write(textLine(line)) });
}

function textLine(json: string): string {
  const entry = JSON.parse(json) as Record<string, unknown>;
  const time = new Date(entry.time as number).toISOString().slice(11, 23);
  const fields = Object.entries(entry)
    .filter(([key]) => !hidden.has(key))
    .map(([key, value]) => {
      if (key === 'err' && value && typeof value === 'object')
        return `err="${(value as { message?: string }).message}"`;
      return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    });
  const part = entry.part ? `[${entry.part}] ` : '';
  return `${time} ${(levels[entry.level as number] ?? '').padEnd(5)} ${part}${entry.msg ?? ''}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}
