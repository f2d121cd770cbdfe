/** What `nearby config validate` prints: one line per issue, `file:line: error: message`, then a summary. */
import type { ConfigIssue, ConfigResult } from './types.ts';

function line(file: string, kind: 'error' | 'warning', issue: ConfigIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}`;
  return `${where}: ${kind}: ${issue.message}`;
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function formatIssues(result: ConfigResult, file: string): string {
  const lines = [
    ...result.errors.map((issue) => line(file, 'error', issue)),
    ...result.warnings.map((issue) => line(file, 'warning', issue)),
  ];
  if (result.errors.length > 0) {
    lines.push(
      `${file}: invalid (${count(result.errors.length, 'error')}, ${count(result.warnings.length, 'warning')})`,
    );
  } else if (result.warnings.length > 0) {
    lines.push(
      `${file}: valid, with ${count(result.warnings.length, 'warning')} about keys nearby does not act on yet`,
    );
  } else {
    lines.push(`${file}: valid`);
  }
  return `${lines.join('\n')}\n`;
}
