/** The HAProxy lines that send an HTTP frontend's per-request log to nearby's access log (access-log.ts). */
import { ACCESS_LOG_FORMAT } from './access-log.ts';

export interface LogTarget {
  host: string;
  port: number;
}

/** For any HTTP frontend: its log goes only to nearby's receiver, in nearby's format. */
export function accessLogLines(target: LogTarget): string[] {
  return [
    '  no log',
    `  log ${target.host}:${target.port} len 8192 format raw local0 info`,
    `  log-format "${ACCESS_LOG_FORMAT}"`,
  ];
}
