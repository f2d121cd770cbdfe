/**
 * The Machines API, end to end: a client written from Fly's API docs drives every endpoint of a real
 * `nearby server` (real registry, crun, HAProxy) and checks status codes, shapes and errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { FlyClient } from './helpers/fly-client.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

describe('Machines API: a Fly client works against nearby', { concurrency: false }, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let fly: FlyClient;
  let image: string;
  const app = 'api-suite';
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    fly = new FlyClient(nearby.apiUrl, nearby.token);
  });

  const started = async (id: string) => {
    const waited = await fly.waitMachine(app, id, { state: 'started', timeout: 60 });
    assert.equal(
      waited.status,
      200,
      `machine ${id} did not start: ${JSON.stringify(waited.body)}\n${nearby.output().slice(-3000)}`,
    );
  };

  test('apps: create, get, list by org, and errors for a duplicate or a bad name', async () => {
    const created = await fly.createApp(app, 'personal', 'default');
    assert.equal(created.status, 201);
    assert.equal(created.body.name, app);
    assert.equal(created.body.organization.slug, 'personal');
    assert.equal((await fly.createApp(app)).status, 409);
    const bad = await fly.createApp('Bad_Name');
    assert.equal(bad.status, 422);
    assert.match(bad.body.error, /Bad_Name/);
    assert.equal((await fly.getApp(app)).body.name, app);
    const listed = await fly.listApps('personal');
    assert.ok(listed.body.apps.some((a: { name: string }) => a.name === app));
    assert.equal((await fly.listApps('nobody')).body.total_apps, 0);
    assert.equal((await fly.getApp('no-such-app')).status, 404);
  });

  test('bad input: wrong types are refused with the field named, unknown fields are ignored', async () => {
    const wrongType = await fly.createMachine(app, {
      config: { image, guest: { cpus: 'two' as unknown as number } },
    });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.error, /config\.guest\.cpus/);
    const noImage = await fly.request('POST', `/v1/apps/${app}/machines`, { config: {} });
    assert.equal(noImage.status, 400);
    assert.match(noImage.body.error, /image/);
    const badState = await fly.waitMachine(app, 'abc', { state: 'sleeping' });
    assert.equal(badState.status, 400);
    assert.match(badState.body.error, /querystring\.state/);
    const notJson = await fly.request('POST', `/v1/apps/${app}/machines`, '{not json');
    assert.equal(notJson.status, 400);
    const unknown = await fly.createMachine(app, {
      config: { image, some_future_field: { x: 1 }, size: 'shared-cpu-2x' },
      name: 'ignored-fields',
      skip_launch: true,
      future_top_level: true,
    } as never);
    assert.equal(unknown.status, 200, JSON.stringify(unknown.body));
    assert.equal(unknown.body.config.some_future_field, undefined);
    assert.deepEqual(unknown.body.config.guest, { cpu_kind: 'shared', cpus: 2, memory_mb: 512 });
    const badSize = await fly.createMachine(app, { config: { image, size: 'huge-cpu-99x' } });
    assert.equal(badSize.status, 422);
    assert.match(badSize.body.error, /config\.size/);
    await eventually(async () =>
      (await fly.getMachine(app, unknown.body.id)).body.state === 'stopped' ? true : undefined,
    );
    assert.equal((await fly.deleteMachine(app, unknown.body.id)).status, 200);
  });

  let id: string;
  let firstVersion: string;

  test('machines: create with config honoured (env, files, processes, metadata), get, list with filters', async () => {
    const created = await fly.createMachine(app, {
      name: 'web-1',
      region: nearby.region,
      config: {
        image,
        env: { GREETING: 'hi' },
        guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
        files: [{ guest_path: '/etc/motd', raw_value: Buffer.from('hello file\n').toString('base64') }],
        processes: [{ name: 'app', env: { FROM_PROCESS: 'yes' } }],
        metadata: { role: 'web' },
        restart: { policy: 'on-failure', max_retries: 3 },
        stop_config: { signal: 'SIGTERM', timeout: '5s' },
        services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
      },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    id = created.body.id;
    firstVersion = created.body.instance_id;
    assert.match(id, /^[0-9a-f]{14}$/);
    assert.equal(created.body.name, 'web-1');
    assert.equal(created.body.region, nearby.region);
    await started(id);
    const machine = (await fly.getMachine(app, id)).body;
    assert.equal(machine.state, 'started');
    assert.equal(machine.cordoned, false);
    assert.ok(machine.private_ip);
    for (const field of [
      'id',
      'name',
      'state',
      'region',
      'instance_id',
      'private_ip',
      'config',
      'image_ref',
      'created_at',
      'updated_at',
      'events',
    ]) {
      assert.ok(field in machine, `machine has ${field}`);
    }
    const exec = await fly.exec(app, id, {
      command: ['/bin/sh', '-c', 'echo $GREETING $FROM_PROCESS; cat /etc/motd; echo oops >&2; exit 3'],
    });
    assert.equal(exec.status, 200, JSON.stringify(exec.body));
    assert.deepEqual(exec.body, { stdout: 'hi yes\nhello file\n', stderr: 'oops\n', exit_code: 3 });
    const byCmd = await fly.exec(app, id, { cmd: 'echo "two words"' });
    assert.equal(byCmd.body.stdout, 'two words\n');
    assert.equal((await fly.listMachines(app, '?metadata.role=web')).body.length, 1);
    assert.equal((await fly.listMachines(app, '?metadata.role=db')).body.length, 0);
    assert.equal((await fly.listMachines(app, `?region=${nearby.region}`)).body.length, 1);
    assert.equal((await fly.listMachines(app, '?region=nowhere')).body.length, 0);
  });

  test('ps lists the main process and the port it listens on', async () => {
    const ps = await fly.ps(app, id);
    assert.equal(ps.status, 200, JSON.stringify(ps.body));
    const main = ps.body.find((p: { command: string }) => p.command.includes('/hello'));
    assert.ok(main, JSON.stringify(ps.body));
    assert.equal(main.pid, 1);
    assert.ok(main.rss > 0);
    assert.ok(main.listen_sockets.some((s: { address: string }) => s.address.endsWith(':8080')));
  });

  test('metadata: get, set, delete', async () => {
    assert.equal((await fly.setMetadata(app, id, 'team', 'core')).status, 204);
    assert.deepEqual((await fly.getMetadata(app, id)).body, { role: 'web', team: 'core' });
    assert.equal((await fly.deleteMetadata(app, id, 'team')).status, 204);
    assert.deepEqual((await fly.getMetadata(app, id)).body, { role: 'web' });
    assert.equal(
      (await fly.getMachine(app, id)).body.instance_id,
      firstVersion,
      'metadata makes no new version',
    );
  });

  test('cordon and uncordon flag the machine for the proxy', async () => {
    assert.deepEqual((await fly.cordon(app, id)).body, { ok: true });
    assert.equal((await fly.getMachine(app, id)).body.cordoned, true);
    assert.deepEqual((await fly.uncordon(app, id)).body, { ok: true });
    assert.equal((await fly.getMachine(app, id)).body.cordoned, false);
  });

  test('leases: create, others get 409 without the nonce, holder acts, release', async () => {
    const lease = await fly.acquireLease(app, id, 60, 'deploying');
    assert.equal(lease.status, 200, JSON.stringify(lease.body));
    assert.equal(lease.body.status, 'success');
    const { nonce, expires_at, owner, description, version } = lease.body.data;
    assert.ok(nonce);
    assert.ok(expires_at > Date.now() / 1000);
    assert.equal(owner, 'admin');
    assert.equal(description, 'deploying');
    assert.equal(version, firstVersion);
    assert.equal((await fly.getLease(app, id)).body.data.nonce, nonce);
    const other = await fly.acquireLease(app, id, 10);
    assert.equal(other.status, 409);
    const blocked = await fly.cordon(app, id);
    assert.equal(blocked.status, 409);
    assert.equal(blocked.body.code, 'MACHINE_LEASED');
    fly.leaseNonce = nonce;
    assert.equal((await fly.cordon(app, id)).status, 200);
    assert.equal((await fly.uncordon(app, id)).status, 200);
    assert.equal((await fly.releaseLease(app, id)).status, 200);
    fly.leaseNonce = undefined;
    assert.equal((await fly.getLease(app, id)).status, 404);
  });

  test('signal and restart: the process gets the signal, restart makes a new start event', async () => {
    assert.deepEqual((await fly.signalMachine(app, id, 'SIGHUP')).body, { ok: true });
    const badSignal = await fly.request('POST', `/v1/apps/${app}/machines/${id}/signal`, { signal: 42 });
    assert.equal(badSignal.status, 400);
    assert.match(badSignal.body.error, /body\.signal/);
    const startsBefore = (await fly.events(app, id)).body.filter(
      (e: { type: string }) => e.type === 'start',
    ).length;
    assert.deepEqual((await fly.restartMachine(app, id, '?timeout=5s')).body, { ok: true });
    await eventually(
      async () => {
        const events = (await fly.events(app, id)).body;
        return events.filter((e: { type: string }) => e.type === 'start').length > startsBefore
          ? true
          : undefined;
      },
      60_000,
      'a second start event',
    );
    await started(id);
  });

  test('suspend, then start resumes it', async () => {
    assert.deepEqual((await fly.suspendMachine(app, id)).body, { ok: true });
    assert.equal((await fly.waitMachine(app, id, { state: 'suspended', timeout: 30 })).status, 200);
    assert.equal((await fly.getMachine(app, id)).body.state, 'suspended');
    assert.deepEqual((await fly.startMachine(app, id)).body, { previous_state: 'suspended' });
    await started(id);
  });

  test('update: a new instance_id, the old version replaced, current_version guards', async () => {
    const stale = await fly.updateMachine(app, id, { config: { image }, current_version: 'not-the-version' });
    assert.equal(stale.status, 409);
    const updated = await fly.updateMachine(app, id, {
      current_version: firstVersion,
      config: { image, env: { GREETING: 'hello again' }, metadata: { role: 'web' } },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.notEqual(updated.body.instance_id, firstVersion);
    const waited = await fly.waitMachine(app, id, {
      state: 'started',
      instance_id: updated.body.instance_id,
      timeout: 60,
    });
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    const old = await fly.waitMachine(app, id, { state: 'stopped', instance_id: firstVersion, timeout: 5 });
    assert.deepEqual(old.body, { ok: true, state: 'replaced' });
    const versions = (await fly.versions(app, id)).body;
    assert.deepEqual(
      versions.map((v: { state: string }) => v.state),
      ['current', 'replaced'],
    );
    const exec = await fly.exec(app, id, { command: ['/bin/sh', '-c', 'echo $GREETING'] });
    assert.equal(exec.body.stdout, 'hello again\n', JSON.stringify(exec.body));
    const types = (await fly.events(app, id)).body.map((e: { type: string }) => e.type);
    for (const type of ['launch', 'start', 'update', 'exit'])
      assert.ok(types.includes(type), `event ${type} in ${types}`);
  });

  test('the CLI: machine exec, cordon, suspend, restart', async () => {
    const exec = await nearby.cli([
      'machine',
      'exec',
      id,
      '-a',
      app,
      '--',
      '/bin/sh',
      '-c',
      'echo out; echo err >&2; exit 4',
    ]);
    assert.equal(exec.code, 4);
    assert.equal(exec.stdout, 'out\n');
    assert.equal(exec.stderr, 'err\n');
    const cordon = await nearby.cli(['machine', 'cordon', id, '-a', app]);
    assert.equal(cordon.code, 0, cordon.stderr);
    assert.match(cordon.stdout, /cordoned/);
    assert.match((await nearby.cli(['machine', 'status', id, '-a', app])).stdout, /Cordoned/);
    assert.equal((await nearby.cli(['machine', 'uncordon', id, '-a', app])).code, 0);
    const suspend = await nearby.cli(['machine', 'suspend', id, '-a', app]);
    assert.equal(suspend.code, 0, suspend.stderr);
    assert.equal((await fly.getMachine(app, id)).body.state, 'suspended');
    assert.equal((await nearby.cli(['machine', 'start', id, '-a', app])).code, 0);
    const restart = await nearby.cli(['machine', 'restart', id, '-a', app, '--timeout', '5s']);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stdout, /restarted/);
    await started(id);
  });

  test('stop with signal and timeout, then destroy: 409 without force while running', async () => {
    const running = await fly.deleteMachine(app, id);
    assert.equal(running.status, 409);
    assert.equal((await fly.stopMachine(app, id, { signal: 'SIGTERM', timeout: '10s' })).status, 200);
    assert.equal((await fly.waitMachine(app, id, { state: 'stopped', timeout: 30 })).status, 200);
    const exited = (await fly.events(app, id)).body.find((e: { type: string }) => e.type === 'exit');
    assert.ok(exited.request.exit_event, JSON.stringify(exited));
    assert.equal((await fly.deleteMachine(app, id)).status, 200);
    assert.equal((await fly.waitMachine(app, id, { state: 'destroyed', timeout: 30 })).status, 200);
    assert.equal((await fly.getMachine(app, id)).status, 404);
    const all = (await fly.listMachines(app, '?include_deleted=true')).body;
    assert.ok(all.some((m: { id: string; state: string }) => m.id === id && m.state === 'destroyed'));
    assert.ok(!(await fly.listMachines(app)).body.some((m: { id: string }) => m.id === id));
  });

  test('exit events carry the exit code; restart policy no leaves it stopped; auto_destroy destroys it', async () => {
    const failing = await fly.createMachine(app, {
      config: { image, init: { exec: ['/bin/sh', '-c', 'exit 7'] }, restart: { policy: 'no' } },
    });
    const failingId = failing.body.id;
    const exit = await eventually(
      async () => {
        const events = (await fly.events(app, failingId)).body;
        return events.find((e: { type: string }) => e.type === 'exit');
      },
      60_000,
      'an exit event',
    );
    assert.equal(exit.request.exit_event.exit_code, 7);
    assert.equal(exit.request.exit_event.oom_killed, false);
    assert.equal((await fly.getMachine(app, failingId)).body.state, 'stopped');
    await fly.deleteMachine(app, failingId, true);

    const once = await fly.createMachine(app, {
      config: { image, init: { exec: ['/bin/sh', '-c', 'exit 0'] }, auto_destroy: true },
    });
    const destroyed = await fly.waitMachine(app, once.body.id, { state: 'destroyed', timeout: 60 });
    assert.equal(destroyed.status, 200);
  });

  test('create with lease_ttl hands back the nonce; skip_launch leaves it stopped', async () => {
    const created = await fly.createMachine(app, { config: { image }, skip_launch: true, lease_ttl: 30 });
    assert.equal(created.status, 200);
    assert.ok(created.body.nonce);
    assert.equal((await fly.startMachine(app, created.body.id)).status, 409);
    fly.leaseNonce = created.body.nonce;
    assert.equal(
      (await fly.waitMachine(app, created.body.id, { state: 'stopped', timeout: 30 })).status,
      200,
    );
    assert.equal((await fly.deleteMachine(app, created.body.id, true)).status, 200);
    fly.leaseNonce = undefined;
  });

  test('the OpenAPI document lists every route with the schemas that validate it', async () => {
    const response = await fetch(`${nearby.apiUrl}/v1/openapi.json`);
    assert.equal(response.status, 200);
    const doc = await response.json();
    // A full OpenAPI validator: structure, $refs, and every schema in it.
    await SwaggerParser.validate(structuredClone(doc));
    assert.match(doc.openapi, /^3\./);
    for (const [path, method] of [
      ['/v1/apps', 'post'],
      ['/v1/apps/{app}/machines', 'post'],
      ['/v1/apps/{app}/machines/{id}/wait', 'get'],
      ['/v1/apps/{app}/machines/{id}/lease', 'post'],
      ['/v1/apps/{app}/machines/{id}/exec', 'post'],
      ['/v1/apps/{app}/secrets', 'get'],
      ['/v1/apps/{app}/deploy_token', 'post'],
    ]) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path} in the document`);
    }
    const create = doc.paths['/v1/apps/{app}/machines'].post;
    assert.equal(
      create.requestBody.content['application/json'].schema.properties.config.properties.guest.properties.cpus
        .type,
      'integer',
    );
    assert.equal(
      create.responses['200'].content['application/json'].schema.$ref,
      '#/components/schemas/Machine',
    );
    assert.ok(doc.components.schemas.Machine.properties.config.properties.image);
    assert.equal(
      doc.paths['/v1/apps'].post.responses['201'].content['application/json'].schema.$ref,
      '#/components/schemas/App',
    );
    const wait = doc.paths['/v1/apps/{app}/machines/{id}/wait'].get;
    assert.deepEqual(wait.parameters.find((p: { name: string }) => p.name === 'state').schema.enum, [
      'started',
      'stopped',
      'suspended',
      'destroyed',
    ]);
  });

  test('deleting the app destroys its machines', async () => {
    assert.equal((await fly.deleteApp(app)).status, 202);
    assert.equal((await fly.getApp(app)).status, 404);
  });
});
