/** `nearby dns serve`: the GeoDNS for operators without an address block of their own (docs/edge-routing.md). */
import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkEdges } from '../../edge/edge-health.ts';
import { edgeError } from '../../edge/errors.ts';
import type { GeoTables } from '../../edge/geo-answer.ts';
import { serveGeoDns } from '../../edge/geo-dns-server.ts';
import { loadGeoTables } from '../../edge/geo-tables.ts';
import { parseDurationString } from '../../model/duration.ts';
import { type Command, usageError } from '../command.ts';

const serve: Command = {
  name: 'dns serve',
  summary: 'answer app names with the edge addresses of the region nearest the asker (GeoDNS)',
  help: `Usage: nearby dns serve --zone DOMAIN --networks FILE --regions FILE [flags]

Answers A/AAAA for DOMAIN and every name under it (delegate the apps domain here with an NS
record) with the edge addresses of the region nearest the asker by data/rtt-matrix.tsv. The
asker is the EDNS client subnet when the query carries one, else the resolver's address; its
city comes from the networks table. An asker in no listed network gets the fallback region.
UDP and TCP. SIGHUP reloads the tables. Names outside DOMAIN are REFUSED.

  --zone DOMAIN        the apps domain (e.g. apps.example.com)
  --networks FILE      networks to cities, \`CIDR CITY\` a line (e.g. \`203.0.113.0/24 fra\`)
  --regions FILE       regions to edge addresses, \`REGION ADDRESS…\` a line; a region with no
                       address is skipped (take a region out without deleting its line)
  --fallback REGION    for askers in no listed network (default: the first region of --regions)
  --check-edges        probe every edge (http://ADDRESS/, any HTTP answer passes); one failing
                       2 probes in a row is left out of the answers until it passes 2 (a region
                       with no edge left: its users get the next nearest region)
  --check-interval DUR between probes, and each probe's timeout (default 1s)
  --listen HOST:PORT   where to answer (default 0.0.0.0:53)
  --matrix FILE        the RTT matrix (default data/rtt-matrix.tsv)
  --query-log FILE     one line per answer there (default: standard output)`,
  options: {
    zone: { type: 'string' },
    networks: { type: 'string' },
    regions: { type: 'string' },
    fallback: { type: 'string' },
    listen: { type: 'string' },
    matrix: { type: 'string' },
    'query-log': { type: 'string' },
    'check-edges': { type: 'boolean' },
    'check-interval': { type: 'string' },
  },
  async run({ values, out, signal }) {
    for (const flag of ['zone', 'networks', 'regions'])
      if (typeof values[flag] !== 'string') throw usageError(`--${flag} is required`, serve);
    const listen = (values.listen as string | undefined) ?? '0.0.0.0:53';
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(listen);
    if (!match || Number(match[2]) > 65535)
      throw edgeError(
        'EDGE_LISTEN_FAILED',
        `--listen '${listen}' is not HOST:PORT`,
        'e.g. --listen 0.0.0.0:53',
      );
    const load = () =>
      loadGeoTables({
        zone: values.zone as string,
        networksFile: resolve(values.networks as string),
        regionsFile: resolve(values.regions as string),
        matrixFile: values.matrix as string | undefined,
        fallback: values.fallback as string | undefined,
      });
    let tables: GeoTables = load();
    const onHup = () => {
      try {
        tables = load();
        out('tables reloaded');
      } catch (error) {
        out(`reload refused, keeping the old tables: ${(error as Error).message}`);
      }
    };
    process.on('SIGHUP', onHup);
    const logFile = values['query-log'] as string | undefined;
    const log = (line: string) =>
      logFile ? appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`) : out(line);
    // `dns ready` once both sockets are bound: the world waits for this line.
    const ready = () =>
      out(`dns ready on ${listen} for ${tables.zone} (${tables.regions.map((r) => r.region).join(', ')})`);
    const interval = (values['check-interval'] as string | undefined) ?? '1s';
    const intervalMs = parseDurationString(interval);
    if (intervalMs === undefined || intervalMs < 100)
      throw usageError(
        `--check-interval '${interval}' is not a duration of at least 100ms (e.g. 500ms)`,
        serve,
      );
    const checks =
      values['check-edges'] === true
        ? checkEdges(() => tables, { intervalMs, fall: 2, rise: 2, log: out }, signal)
        : undefined;
    const served = () => checks?.healthy(tables) ?? tables;
    await serveGeoDns({ host: match[1], port: Number(match[2]), tables: served, log, ready }, signal);
    process.off('SIGHUP', onHup);
    return 0;
  },
};

export const dns: Command = {
  name: 'dns',
  summary: 'the GeoDNS for the apps domain',
  help: 'Usage: nearby dns serve [options]',
  subcommands: [serve],
};
