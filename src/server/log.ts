/**
 * The process logger: pino, as JSON lines (for machines) or as short text lines (for a person
 * watching `npm run up`), on stderr.
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
): Logger {
  if (format === 'json') return pino({ level, base: undefined }, pino.destination(2));
  return pino({ level, base: undefined }, { write: (line: string) => process.stderr.write(textLine(line)) });
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
