/**
 * One structured access-log line per request, formatted by HAProxy itself (DESIGN.md §4:
 * per-request work stays in HAProxy). In JSON it is shaped like nearby's own pino lines; in text
 * like its text lines. HAProxy writes the lines to a FIFO (it outlives nearby, haproxy-output.ts),
 * and a `cat` copies them to nearby's output: Node never reads, parses or formats a request's
 * line, which cost a quarter of the proxy's throughput on a 2-core host (docs/perf.md, "Proxy").
 */

export interface AccessLogTarget {
  /** Where nearby copies the lines HAProxy writes to its FIFO (nearby passes its own stderr). */
  fd: number;
  format: 'json' | 'text';
}

/** At most this much of the request target is logged; the whole line stays one atomic write. */
const LOGGED_URI_BYTES = 1024;

/** What a format needs to know that is not in the request. */
export interface AccessLogContext {
  region: string;
  /** Map from server slot to machine id (slots.ts), kept current at run time. */
  slotsMap: string;
}

/**
 * HAProxy `log-format` (before config quoting). Empty values print as `-`: `"app":"-"` for a
 * request that named no app, `"machine":"-"` when no machine answered.
 */
export function accessLogFormat(format: AccessLogTarget['format'], context: AccessLogContext): string {
  const machine = `%[srv_name,map(${context.slotsMap},-)]`;
  if (format === 'text') {
    const uri = `%[capture.req.uri,bytes(0,${LOGGED_URI_BYTES})]`;
    return [
      `%[date,utime(%H:%M:%S)] INFO  [proxy] %HM ${uri} %ST region=${context.region} component=access`,
      `request_id=%ID app=%[var(txn.app)] machine=${machine} total_ms=%Ta bytes=%B client_ip=%ci`,
    ].join(' ');
  }
  const uri = `%[capture.req.uri,bytes(0,${LOGGED_URI_BYTES}),json(utf8s)]`;
  const fields = [
    '"level":30',
    '"time":%[date(0,ms)]',
    '"part":"proxy"',
    `"region":"${context.region}"`,
    '"component":"access"',
    '"request_id":"%ID"',
    '"app":"%[var(txn.app),json(utf8s)]"',
    '"backend":"%b"',
    `"machine":"${machine}"`,
    '"status":%ST',
    '"method":"%HM"',
    `"path":"${uri}"`,
    '"http_version":"%HV"',
    '"client_ip":"%ci"',
    '"bytes":%B',
    // How often HAProxy tried again (`+` first: on another machine), e.g. after a host died mid-request.
    '"retries":"%rc"',
    '"timing":{"request_ms":%TR,"queue_ms":%Tw,"connect_ms":%Tc,"response_ms":%Tr,"total_ms":%Ta}',
    `"msg":"%HM ${uri} %ST"`,
  ];
  return `{${fields.join(',')}}`;
}

/** `app_<app>` or `app_<app>_<port>_<kind>` (src/proxy/routes.ts; app names have no `_`). */
export function appOfBackend(backend: string): string | undefined {
  return backend.startsWith('app_') ? backend.slice(4).split('_')[0] : undefined;
}
