/**
 * Writes what HAProxy reads (configuration, host map, certificates, error pages, Lua) into
 * `<dataDir>/proxy/`.
 * The configuration is checked with `haproxy -c` before it replaces the one in use.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { renderSuspendedMap } from './budget-levels.ts';
import { haproxyConfigInvalid, haproxyNotFound } from './errors.ts';
import { type ConfigInput, renderConfig, renderHostsMap, renderSlotsMap } from './haproxy-config.ts';
import { renderLatencyMap } from './http-stats.ts';
import { renderErrorPages } from './pages/error-pages.ts';
import { renderRouteLatencyMap } from './route-latency.ts';
import { ensureDefaultCert, writeCertFiles } from './tls.ts';

const execFileAsync = promisify(execFile);

/** @throws NearbyError HAPROXY_CONFIG_INVALID, HAPROXY_NOT_FOUND, PROXY_DEFAULT_CERT_FAILED */
export async function writeProxyFiles(input: ConfigInput, haproxyBin: string): Promise<void> {
  const { paths } = input;
  await mkdir(paths.pagesDir, { recursive: true });
  for (const page of renderErrorPages(input.appsDomain)) {
    await writeFile(join(paths.pagesDir, page.file), page.body);
  }
  await ensureDefaultCert(paths);
  await writeCertFiles(paths, input.routes.certs);
  // A running HAProxy reads the map only when it loads: changing the file is safe.
  await writeFile(`${paths.hostsMap}.tmp`, renderHostsMap(input.routes));
  await rename(`${paths.hostsMap}.tmp`, paths.hostsMap);
  await writeFile(`${paths.slotsMap}.tmp`, renderSlotsMap(input.routes));
  await rename(`${paths.slotsMap}.tmp`, paths.slotsMap);
  await writeFile(paths.latencyMap, renderLatencyMap());
  await writeFile(paths.routeLatencyMap, renderRouteLatencyMap());
  await writeFile(`${paths.suspendedMap}.tmp`, renderSuspendedMap(input.suspended ?? new Map()));
  await rename(`${paths.suspendedMap}.tmp`, paths.suspendedMap);
  const candidate = `${paths.config}.new`;
  await writeFile(candidate, renderConfig(input));
  try {
    await execFileAsync(haproxyBin, ['-c', '-q', '-f', candidate]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw haproxyNotFound(haproxyBin, error);
    throw haproxyConfigInvalid(candidate, String((error as { stderr?: string }).stderr ?? error).trim());
  }
  await rename(candidate, paths.config);
}
