/**
 * Who may do what, end to end: org and deploy tokens made with the CLI, one org trying to see or
 * touch another's apps, machines, secrets and logs, revocation, secrets sealed at rest and injected
 * at boot, and rate limits answered with 429 and Retry-After.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FlyClient } from './helpers/fly-client.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

// Small limits so the test reaches them with a handful of requests (the server inherits our env).
process.env.NEARBY_RATE_LIMIT_MACHINE = '1:8';
process.env.NEARBY_RATE_LIMIT_TOKEN = '20:60';

describe('API access: tokens, orgs, secrets, rate limits', { concurrency: false }, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let admin: FlyClient;
  let image: string;
  let acme: FlyClient;
  let acmeToken: string;
  let globex: FlyClient;
  let deploy: FlyClient;
  let deployId: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** Runs the CLI as the holder of `token`. */
  const cliAs = async (token: string, args: string[], cwd?: string) => {
    const saved = nearby.env.NEARBY_API_TOKEN;
    nearby.env.NEARBY_API_TOKEN = token;
    try {
      return await nearby.cli(args, { cwd });
    } finally {
      nearby.env.NEARBY_API_TOKEN = saved;
    }
  };

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    admin = new FlyClient(nearby.apiUrl, nearby.token);
  });

  test('org tokens from the CLI; each org creates apps in its own org only', async () => {
    const made = await nearby.cli(['tokens', 'create', 'org', '--org', 'acme', '--name', 'acme ci']);
    assert.equal(made.code, 0, made.stderr);
    acmeToken = made.stdout.trim();
    assert.match(acmeToken, /^nb_org_/);
    assert.match(made.stderr, /shown only once/);
    acme = new FlyClient(nearby.apiUrl, acmeToken);
    const globexToken = await admin.createOrgToken('globex');
    assert.equal(globexToken.status, 201);
    globex = new FlyClient(nearby.apiUrl, globexToken.body.token);

    const web = await acme.createApp('acme-web');
    assert.equal(web.status, 201);
    assert.equal(web.body.organization.slug, 'acme', "an org token's apps go to its org");
    assert.equal((await acme.createApp('acme-jobs')).status, 201);
    assert.equal((await globex.createApp('globex-web')).status, 201);
    const intoOther = await acme.createApp('acme-sneaky', 'globex');
    assert.equal(intoOther.status, 403);
    assert.equal(intoOther.body.code, 'FORBIDDEN');
    assert.equal((await acme.createOrgToken('globex')).status, 403);

    const listed = await nearby.cli(['tokens', 'list']);
    assert.match(listed.stdout, /acme ci/);
    assert.doesNotMatch(listed.stdout, /nb_org_/, 'token secrets are never listed');
  });

  test('one org can neither see nor touch another org’s apps, machines, secrets or logs', async () => {
    const names = (await acme.listApps()).body.apps.map((a: { name: string }) => a.name).sort();
    assert.deepEqual(names, ['acme-jobs', 'acme-web']);
    assert.equal((await acme.listApps('globex')).body.total_apps, 0);
    const machine = await globex.createMachine('globex-web', { config: { image }, skip_launch: true });
    assert.equal(machine.status, 200, JSON.stringify(machine.body));
    assert.equal((await globex.setSecret('globex-web', 'GLOBEX_KEY', 'top')).status, 201);

    const attempts = [
      acme.getApp('globex-web'),
      acme.listMachines('globex-web'),
      acme.getMachine('globex-web', machine.body.id),
      acme.createMachine('globex-web', { config: { image } }),
      acme.startMachine('globex-web', machine.body.id),
      acme.deleteMachine('globex-web', machine.body.id, true),
      acme.exec('globex-web', machine.body.id, { command: ['id'] }),
      acme.listSecrets('globex-web'),
      acme.setSecret('globex-web', 'GLOBEX_KEY', 'stolen'),
      acme.logs('globex-web'),
      acme.createDeployToken('globex-web'),
      acme.deleteApp('globex-web'),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.status, 404, JSON.stringify(response.body));
      assert.equal(response.body.code, 'APP_NOT_FOUND');
    }
    assert.equal((await globex.getApp('globex-web')).status, 200, 'globex still has its app');
    assert.equal((await globex.getMachine('globex-web', machine.body.id)).status, 200);
    const tokens = (await acme.listTokens()).body.tokens;
    assert.ok(
      tokens.every((t: { org_slug?: string }) => t.org_slug === 'acme'),
      JSON.stringify(tokens),
    );
  });

  test('a deploy token acts on its app only; revoking it works at once', async () => {
    const made = await cliAs(acmeToken, ['tokens', 'create', 'deploy', '-a', 'acme-web']);
    assert.equal(made.code, 0, made.stderr);
    deploy = new FlyClient(nearby.apiUrl, made.stdout.trim());
    assert.deepEqual(
      (await deploy.listApps()).body.apps.map((a: { name: string }) => a.name),
      ['acme-web'],
    );
    assert.equal((await deploy.getApp('acme-web')).status, 200);
    assert.equal((await deploy.getApp('acme-jobs')).status, 404, 'same org, other app');
    assert.equal((await deploy.createApp('acme-new')).status, 403);
    assert.equal((await deploy.createDeployToken('acme-web')).status, 403);
    assert.equal((await deploy.deleteApp('acme-web')).status, 403);
    const own = await deploy.listTokens();
    assert.equal(own.body.tokens.length, 1);
    deployId = own.body.tokens[0].id;

    const revoked = await cliAs(acmeToken, ['tokens', 'revoke', deployId]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const after = await deploy.getApp('acme-web');
    assert.equal(after.status, 401);
    assert.equal(after.body.code, 'UNAUTHORIZED');
    assert.equal((await globex.revokeToken('admin')).status, 404, 'others cannot even see the admin token');
  });

  test('CI with a deploy token: `nearby deploy` of an app made by its org', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nearby-deploy-token-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const launched = await cliAs(
      acmeToken,
      ['launch', '--image', image, '--name', 'acme-site', '--org', 'acme'],
      dir,
    );
    assert.equal(launched.code, 0, launched.stderr);
    const ciToken = (await acme.createDeployToken('acme-site', { name: 'ci' })).body.token;
    const deployed = await cliAs(ciToken, ['deploy', '--no-ha'], dir);
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    const machines = (await acme.listMachines('acme-site')).body;
    assert.equal(machines.length, 1);
    assert.equal(machines[0].state, 'started');
    const other = await mkdtemp(join(tmpdir(), 'nearby-deploy-token-'));
    cleanups.push(() => rm(other, { recursive: true, force: true }));
    const refused = await cliAs(ciToken, ['launch', '--image', image, '--name', 'ci-made'], other);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /deploy token .* cannot create apps/);
  });

  test('secrets: set with the CLI, never returned, sealed at rest, injected as env and files at boot', async () => {
    const fileContent = Buffer.from('from a secret\n').toString('base64');
    const set = await cliAs(acmeToken, [
      'secrets',
      'set',
      'DB_PASSWORD=correct-horse-battery',
      `CERT_FILE=${fileContent}`,
      '-a',
      'acme-web',
    ]);
    assert.equal(set.code, 0, set.stderr);
    const listed = await cliAs(acmeToken, ['secrets', 'list', '-a', 'acme-web']);
    assert.match(listed.stdout, /DB_PASSWORD/);
    assert.doesNotMatch(listed.stdout, /correct-horse/);
    const api = await acme.listSecrets('acme-web');
    assert.deepEqual(api.body.secrets.map((s: { name: string }) => s.name).sort(), [
      'CERT_FILE',
      'DB_PASSWORD',
    ]);
    assert.doesNotMatch(JSON.stringify(api.body), /correct-horse/);

    const machine = await acme.createMachine('acme-web', {
      config: { image, files: [{ guest_path: '/run/cert.pem', secret_name: 'CERT_FILE' }] },
    });
    assert.equal(machine.status, 200, JSON.stringify(machine.body));
    const waited = await acme.waitMachine('acme-web', machine.body.id, { state: 'started', timeout: 60 });
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    // Checked before exec prints the value on purpose (its output passes through the store).
    for (const file of ['state.db', 'state.db-wal']) {
      const bytes = await readFile(join(nearby.dataDir, file)).catch(() => Buffer.alloc(0));
      assert.equal(bytes.includes('correct-horse-battery'), false, `${file} holds no secret in clear`);
    }
    const exec = await acme.exec('acme-web', machine.body.id, {
      command: ['/bin/sh', '-c', 'echo $DB_PASSWORD; cat /run/cert.pem'],
    });
    assert.equal(exec.body.stdout, 'correct-horse-battery\nfrom a secret\n', JSON.stringify(exec.body));
    const view = await acme.getMachine('acme-web', machine.body.id);
    assert.doesNotMatch(
      JSON.stringify(view.body),
      /correct-horse/,
      'the machine record holds no secret value',
    );

    const unset = await cliAs(acmeToken, ['secrets', 'unset', 'DB_PASSWORD', '-a', 'acme-web']);
    assert.equal(unset.code, 0, unset.stderr);
    assert.deepEqual(
      (await acme.listSecrets('acme-web')).body.secrets.map((s: { name: string }) => s.name),
      ['CERT_FILE'],
    );
    assert.equal((await acme.deleteSecret('acme-web', 'NOPE')).status, 404);
    assert.deepEqual((await acme.deleteSecret('acme-web', 'CERT_FILE')).body, { ok: true });
    const badName = await acme.setSecret('acme-web', 'bad-name!', 'x');
    assert.equal(badName.status, 400);
    assert.match(badName.body.error, /params\.name/);
    await acme.deleteMachine('acme-web', machine.body.id, true);

    // A file from a secret that is not set: the machine fails and says why.
    const missing = await acme.createMachine('acme-web', {
      config: { image, files: [{ guest_path: '/run/key', secret_name: 'NOT_SET' }] },
    });
    const failed = await eventually(
      async () => {
        const view = (await acme.getMachine('acme-web', missing.body.id)).body;
        return view.state === 'failed' ? view : undefined;
      },
      60_000,
      'a failed machine',
    );
    assert.match(failed.nearby.error, /secret 'NOT_SET' is not set/);
    await acme.deleteMachine('acme-web', missing.body.id, true);
  });

  test('rate limits per machine and per token answer 429 with Retry-After', async () => {
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => acme.getMachine('acme-web', 'ffffffffffffff')),
    );
    const limited = burst.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, 'some requests to one machine were limited');
    assert.ok(
      burst.some((r) => r.status === 404),
      'the first ones went through',
    );
    assert.ok(Number(limited[0].headers.get('retry-after')) >= 1);
    assert.equal(limited[0].body.code, 'RATE_LIMITED');
    assert.match(limited[0].body.error, /machine ffffffffffffff/);

    const fresh = new FlyClient(nearby.apiUrl, (await admin.createOrgToken('limits')).body.token);
    // 100 at once are over 20/s with a burst of 60 unless the host is so busy that the API takes
    // seconds to answer them (load average 45 here once): then send more, until one is refused.
    let tokenLimited: Awaited<ReturnType<typeof fresh.listApps>>[] = [];
    for (let batch = 0; batch < 10 && tokenLimited.length === 0; batch++) {
      const many = await Promise.all(Array.from({ length: 100 }, () => fresh.listApps()));
      tokenLimited = many.filter((r) => r.status === 429);
    }
    assert.ok(tokenLimited.length > 0, 'a token over its limit is refused');
    assert.match(tokenLimited[0].body.error, /this token/);
    assert.ok(Number(tokenLimited[0].headers.get('retry-after')) >= 1);
    assert.equal((await acme.getApp('acme-web')).status, 200, 'other tokens are not affected');
  });
});
