/**
 * One client city's load for `npm run chaos`, run inside the city (`nearby world run --client CITY
 * -- node bench/lib/city-load.ts NAME URL`): the steady load of test/helpers/load.ts to the app's
 * name through the world's GeoDNS, a fresh connection a request, each failed request tried again
 * up to 3 times as a client would. Prints its counters as a JSON line every 250 ms, and once more
 * when its stdin closes (then it stops).
 */
import { proxyLoad } from '../../test/helpers/load.ts';

const [name, url] = process.argv.slice(2);
const host = new URL(url).hostname;
const load = proxyLoad(name, url, host, {
  keepAlive: false,
  retries: 3,
  retryDelayMs: 250,
  limitMs: 3_600_000,
});
let reported = 0;
const report = () => {
  const failures = load.failures.slice(reported);
  reported = load.failures.length;
  const { ok, retried, lastTrouble } = load;
  process.stdout.write(
    `${JSON.stringify({ ok, failed: load.failures.length, retried, lastTrouble, failures })}\n`,
  );
};
const timer = setInterval(report, 250);
process.stdin.resume();
process.stdin.on('end', async () => {
  clearInterval(timer);
  await load.stop();
  report();
  process.exit(0);
});
