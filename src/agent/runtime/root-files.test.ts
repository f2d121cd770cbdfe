import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveInRoot, writeRootFiles } from './root-files.ts';

const outside = mkdtempSync(join(tmpdir(), 'nearby-outside-'));
const root = mkdtempSync(join(tmpdir(), 'nearby-root-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('writeRootFiles', () => {
  it('follows symlinks the way the guest would, never out of the root', async () => {
    symlinkSync(outside, join(root, 'etc')); // absolute: means <root><outside> to the guest
    symlinkSync('../../../..', join(root, 'up'));
    mkdirSync(join(root, 'run'));
    symlinkSync('/run', join(root, 'var-run'));
    assert.equal(await resolveInRoot(root, '/etc/hosts'), join(root, outside, 'hosts'));
    assert.equal(await resolveInRoot(root, '/up/up/x'), join(root, 'x'));
    assert.equal(await resolveInRoot(root, '/var-run/app.sock'), join(root, 'run', 'app.sock'));

    await writeRootFiles(root, [{ path: '/etc/hosts', content: '127.0.0.1 localhost\n' }]);
    assert.equal(existsSync(join(outside, 'hosts')), false);
    assert.equal(readFileSync(join(root, outside, 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
  });

  it('replaces a symlink at the target with a file and applies the mode', async () => {
    symlinkSync('/etc/shadow', join(root, 'resolv.conf'));
    await writeRootFiles(root, [{ path: '/resolv.conf', content: 'nameserver 10.0.0.1\n', mode: 0o600 }]);
    assert.ok(lstatSync(join(root, 'resolv.conf')).isFile());
    assert.equal(statSync(join(root, 'resolv.conf')).mode & 0o777, 0o600);
    await assert.rejects(writeRootFiles(root, [{ path: '/', content: '' }]), {
      code: 'MACHINE_FILE_INVALID',
    });
  });
});
