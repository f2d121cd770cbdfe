import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isNearbyError } from '../errors.ts';
import type { MachineConfig } from '../model/machine.ts';
import type { ImageConfig } from '../oci/types.ts';
import { processSpec } from './process-spec.ts';

const rootfs = mkdtempSync(join(tmpdir(), 'nearby-process-spec-'));
mkdirSync(join(rootfs, 'etc'));
writeFileSync(
  join(rootfs, 'etc', 'passwd'),
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnginx:x:101:101::/var/cache/nginx:/sbin/nologin\n',
);
writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nwww:x:33:app,nginx\naudio:x:29:app\n');
after(() => rmSync(rootfs, { recursive: true, force: true }));

const image: ImageConfig = {
  Entrypoint: ['/docker-entrypoint.sh'],
  Cmd: ['nginx', '-g', 'daemon off;'],
  Env: ['PATH=/usr/bin:/bin', 'NGINX_VERSION=1.25', 'A=image'],
  WorkingDir: '/srv',
};
const machine = (extra: Partial<MachineConfig> = {}): MachineConfig => ({ image: 'nginx:latest', ...extra });

describe('processSpec', () => {
  it('runs ENTRYPOINT + CMD in WORKDIR as root by default', () => {
    const spec = processSpec(image, machine(), rootfs, {});
    assert.deepEqual(spec.args, ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    assert.equal(spec.cwd, '/srv');
    assert.deepEqual(spec.user, { uid: 0, gid: 0, additionalGids: [] });
    assert.ok(spec.env.includes('HOME=/root'));
  });

  it('init.cmd replaces CMD only; init.entrypoint replaces ENTRYPOINT and drops CMD', () => {
    assert.deepEqual(processSpec(image, machine({ init: { cmd: ['nginx', '-t'] } }), rootfs, {}).args, [
      '/docker-entrypoint.sh',
      'nginx',
      '-t',
    ]);
    assert.deepEqual(processSpec(image, machine({ init: { entrypoint: ['/bin/sh'] } }), rootfs, {}).args, [
      '/bin/sh',
    ]);
    assert.deepEqual(
      processSpec(image, machine({ init: { entrypoint: ['/bin/sh'], cmd: ['-c', 'true'] } }), rootfs, {})
        .args,
      ['/bin/sh', '-c', 'true'],
    );
  });

  it('init.exec replaces everything', () => {
    const spec = processSpec(
      image,
      machine({ init: { exec: ['/hello'], cmd: ['x'], entrypoint: ['y'] } }),
      rootfs,
      {},
    );
    assert.deepEqual(spec.args, ['/hello']);
  });

  it('merges env: image, then extra, then machine.env (later wins)', () => {
    const spec = processSpec(image, machine({ env: { A: 'machine', B: 'machine' } }), rootfs, {
      A: 'extra',
      C: 'x',
    });
    assert.ok(spec.env.includes('A=machine'));
    assert.ok(spec.env.includes('B=machine'));
    assert.ok(spec.env.includes('C=x'));
    assert.ok(spec.env.includes('PATH=/usr/bin:/bin'));
    assert.ok(spec.env.includes('NGINX_VERSION=1.25'));
    assert.equal(spec.env.filter((e) => e.startsWith('A=')).length, 1);
  });

  it('defaults cwd to / and PATH when the image sets none', () => {
    const spec = processSpec({ Cmd: ['/hello'] }, machine(), rootfs, {});
    assert.equal(spec.cwd, '/');
    assert.ok(spec.env.some((e) => e.startsWith('PATH=/usr/local/sbin:')));
  });

  it('resolves USER forms against the image passwd and group files', () => {
    const as = (User: string) => processSpec({ ...image, User }, machine(), rootfs, {}).user;
    assert.deepEqual(as('app'), { uid: 1000, gid: 1000, additionalGids: [33, 29] });
    assert.deepEqual(as('1000'), { uid: 1000, gid: 1000, additionalGids: [33, 29] });
    assert.deepEqual(as('nginx:www'), { uid: 101, gid: 33, additionalGids: [] });
    assert.deepEqual(as('4242:4343'), { uid: 4242, gid: 4343, additionalGids: [] });
    assert.deepEqual(as('4242'), { uid: 4242, gid: 0, additionalGids: [] });
    assert.ok(processSpec({ ...image, User: 'app' }, machine(), rootfs, {}).env.includes('HOME=/home/app'));
  });

  it('names a user missing from /etc/passwd', () => {
    assert.throws(
      () => processSpec({ ...image, User: 'ghost' }, machine(), rootfs, {}),
      (error: unknown) =>
        isNearbyError(error, 'IMAGE_USER_INVALID') &&
        /'ghost' is not in \/etc\/passwd of the image/.test(error.message),
    );
    assert.throws(
      () => processSpec({ ...image, User: 'app:nogroup' }, machine(), rootfs, {}),
      (error: unknown) => isNearbyError(error, 'IMAGE_USER_INVALID') && /nogroup/.test(error.message),
    );
  });

  it('says what to set when there is nothing to run', () => {
    assert.throws(
      () => processSpec({ Env: [] }, machine(), rootfs, {}),
      (error: unknown) => isNearbyError(error, 'MACHINE_COMMAND_EMPTY') && /init\.cmd/.test(error.hint ?? ''),
    );
  });
});
