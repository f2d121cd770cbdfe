/**
 * The example app (`examples/guestbook`) in a world of iad (its primary region) and syd, as the
 * README's "Try the world" runs it: built from its Dockerfile with buildah offline and deployed
 * with the CLI; from a user in syd, reads answered in syd, a write replayed to iad, a WebSocket
 * that stays in syd; then every machine stopped and concurrent requests from syd all answered by
 * machines woken across the world.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { eventually } from './helpers/nearby.ts';
import { startWorld, type World } from './helpers/world.ts';

const run = promisify(execFile);
const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'guestbook');
const NODE = join(import.meta.dirname, '..', 'node_modules', 'node', 'bin', 'node');

interface Page {
  region: string;
  primary: string;
  machine: string;
  entries: { text: string }[];
}

describe('the guestbook example in a world of iad and syd', { concurrency: false }, () => {
  let world: World;
  let url: string;
  const curl = async (city: string, ...args: string[]) =>
    (await world.inCity(city, ['curl', '-s', '--max-time', '30', ...args])).trim();
  const page = async (city: string) => JSON.parse(await curl(city, url)) as Page;

  before(async () => {
    const started = Date.now();
    world = await startWorld(['iad', 'syd'], ['iad', 'syd']);
    console.log(`world up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    url = `http://guestbook.${world.status.apps_domain}/`;
  });
  after(async () => {
    await world?.down();
  });

  test('deploy builds the Dockerfile offline and runs it in iad, then scale adds syd', async () => {
    const dir = await mkdtemp(join(world.dir, 'guestbook-'));
    await cp(EXAMPLE, dir, { recursive: true, filter: (source) => !source.includes('rootfs') });
    await run(join(dir, 'stage.sh'), [], { env: { ...process.env, NODE } });
    await world.cli(['apps', 'create', 'guestbook']);
    let started = Date.now();
    const deployed = await world.cli(['deploy', '--no-ha'], dir);
    assert.match(deployed.stdout, /FROM scratch/);
    console.log(`deploy (build, push, machine in iad) ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const first = await eventually(
      async () => (await page('syd').catch(() => undefined))?.region === 'iad' || undefined,
      120_000,
      'syd answered by iad, the only region with a machine',
    );
    assert.ok(first);
    started = Date.now();
    await world.cli(['scale', 'count', '1', '--region', 'syd', '--yes'], dir);
    await eventually(
      async () => (await page('syd').catch(() => undefined))?.region === 'syd' || undefined,
      300_000,
      'syd answered by syd once syd has a machine',
    );
    console.log(`scale to syd until syd answers ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const read = await page('syd');
    assert.equal(read.region, 'syd');
    assert.equal(read.primary, 'iad');
  });

  test('a write from syd is replayed to iad, where the entry is read', async () => {
    const answer = await curl(
      'syd',
      '-w',
      '\n%{http_code}',
      '-X',
      'POST',
      '--data',
      'hello from syd',
      `${url}entries`,
    );
    const lines = answer.split('\n');
    const [body, status] = [lines[0], lines.at(-1)];
    assert.equal(status, '201', answer);
    assert.equal((JSON.parse(body) as { region: string }).region, 'iad', 'the primary wrote it');
    const fromIad = await page('iad');
    assert.equal(fromIad.region, 'iad');
    assert.ok(
      fromIad.entries.some((entry) => entry.text === 'hello from syd'),
      JSON.stringify(fromIad),
    );
  });

  test('a WebSocket from syd stays in syd and echoes', async () => {
    const script = `const w = new WebSocket('ws://guestbook.${world.status.apps_domain}/ws');
      const seen = []; w.onmessage = (e) => { seen.push(e.data); if (seen.length === 1) w.send('ping'); else { console.log(seen.join('|')); w.close(); } };
      w.onclose = () => process.exit(0);
      w.onerror = (e) => { console.log('error ' + e.message); process.exit(1); };
      setTimeout(() => { console.log('timeout ' + seen.join('|')); process.exit(1); }, 20000);`;
    const out = (await world.inCity('syd', [NODE, '-e', script])).trim();
    assert.match(out, /^hello from syd \(\S+\)\|syd: ping$/);
  });

  test('with every machine stopped, concurrent requests from syd are all answered', async () => {
    await stopAll();
    const answers = await concurrently('syd', 6);
    console.log(
      `every machine stopped, 6 requests at once from syd (status, seconds, answer):\n${answers.join('\n')}`,
    );
    assert.equal(answers.filter((line) => line.startsWith('200 ')).length, 6, answers.join('\n'));
  });

  test('with one stopped machine only in iad, concurrent requests from syd wake it across the world', async () => {
    for (const machine of await machines())
      if (machine.region === 'syd')
        await world.cli(['machine', 'destroy', machine.id, '-a', 'guestbook', '--force']);
    // The destroy is acknowledged before the record is gone: stopping it meanwhile finds no machine.
    await eventually(
      async () => (await machines()).every((machine) => machine.region !== 'syd') || undefined,
      120_000,
      "syd's machine gone",
    );
    await stopAll();
    const answers = await concurrently('syd', 6);
    console.log(
      `one stopped machine in iad, 6 requests at once from syd (status, seconds, answer):\n${answers.join('\n')}`,
    );
    assert.equal(answers.filter((line) => line.startsWith('200 ')).length, 6, answers.join('\n'));
    for (const line of answers) assert.match(line, /"region":"iad"/);
  });

  /** Stops every machine of the app and waits until the API lists them all stopped. */
  const machines = async () =>
    JSON.parse((await world.cli(['machine', 'list', '-a', 'guestbook', '--json'])).stdout) as {
      id: string;
      region: string;
      state: string;
    }[];
  const stopAll = async () => {
    const list = machines;
    for (const machine of await list())
      if (machine.state !== 'stopped') await world.cli(['machine', 'stop', machine.id, '-a', 'guestbook']);
    await eventually(
      async () => (await list()).every((machine) => machine.state === 'stopped') || undefined,
      120_000,
      'every machine stopped',
    );
  };

  /** `count` requests at once from a city, each on its own connection: `status seconds body` each. */
  const concurrently = async (city: string, count: number) => {
    const files = '/tmp/nearby-guestbook.$$';
    const script = [
      `for i in $(seq ${count}); do (curl -s --max-time 60 -o ${files}.$i.body -w '%{http_code} %{time_total}' ${url} > ${files}.$i.code) & done; wait`,
      `for i in $(seq ${count}); do echo "$(cat ${files}.$i.code) $(cat ${files}.$i.body 2>/dev/null)"; done`,
      `rm -f ${files}.*`,
    ].join('\n');
    return (await world.inCity(city, ['sh', '-c', script])).trim().split('\n');
  };
});
