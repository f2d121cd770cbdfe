/**
 * `npm run bench -- tls-alpn [ROUNDS]`: what the TLS-ALPN-01 TCP front (src/proxy/tls-alpn-config.ts)
 * costs on the shared TLS port. Two nearby servers side by side, `--acme-challenge http-01` and
 * `tls-alpn-01`; h2load over TLS to the same HAProxy-answered 404; HAProxy's CPU time per request
 * (from /proc, which a busy host disturbs less than requests per second), for HTTP/2 on kept
 * connections and for a new TLS connection per request.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { startNearby } from '../test/helpers/nearby.ts';
import { freePort } from '../test/helpers/registry.ts';

const run = promisify(execFile);
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };

/** CPU clock ticks (1/100 s) of every HAProxy process whose command line names `dataDir`. */
async function haproxyTicks(dataDir: string): Promise<number> {
  let sum = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!command.includes('haproxy') || !command.includes(dataDir)) continue;
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ') ')).split(') ')[1].split(' ');
    sum += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return sum;
}

const loads = {
  h2: ['-c', '32', '-m', '10', '-n', '100000'],
  new_conn: ['-c', '16', '-m', '1', '-n', '3000', '--h1', '-H', 'connection: close'],
};

try {
  const servers: { mode: string; port: number; dataDir: string }[] = [];
  for (const mode of ['http-01', 'tls-alpn-01']) {
    const port = await freePort();
    const server = await startNearby(hooks, {
      args: ['--proxy-tls-listen', `127.0.0.1:${port}`, '--acme-challenge', mode, '--metrics-listen', 'off'],
    });
    servers.push({ mode, port, dataDir: server.dataDir });
  }
  const rounds = Number(process.argv[2] ?? 3);
  process.stdout.write(`# load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]}\n`);
  for (let round = 1; round <= rounds; round++) {
    for (const { mode, port, dataDir } of servers) {
      for (const [kind, args] of Object.entries(loads)) {
        const before = await haproxyTicks(dataDir);
        const target = [`--connect-to=127.0.0.1:${port}`, `https://bench.localhost:${port}/`];
        await run('h2load', [...args, '-t', '2', ...target], { maxBuffer: 1 << 22 });
        const requests = Number(args[args.indexOf('-n') + 1]);
        const microseconds = ((await haproxyTicks(dataDir)) - before) * 10_000;
        const name = `tls_${kind}_haproxy_cpu_us_per_request_${mode.replace(/-/g, '_')}`;
        process.stdout.write(`${name}=${(microseconds / requests).toFixed(1)} # round ${round}\n`);
      }
    }
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
