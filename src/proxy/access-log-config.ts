/** The HAProxy lines that make an HTTP frontend write nearby's access log (access-log.ts). */
import { type AccessLogContext, type AccessLogTarget, accessLogFormat } from './access-log.ts';

export type LogTarget = AccessLogTarget & AccessLogContext;

/** HAProxy's file descriptor for the access log: nearby's one is passed to it there (haproxy-process.ts). */
export const ACCESS_LOG_FD = 3;

/** For any HTTP frontend: its log goes only to nearby's log, in nearby's format. */
export function accessLogLines(target: LogTarget): string[] {
  const format = accessLogFormat(target.format, target).replace(/[\\"]/g, (c) => `\\${c}`);
  return [
    '  no log',
    // One writev per line, never blocking HAProxy (a line is dropped if the reader stalls);
    // request lines only (info), not the notices HAProxy sends when it starts.
    `  log fd@${ACCESS_LOG_FD} len 8192 format raw local0 info info`,
    `  log-format "${format}"`,
  ];
}
