import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { clockArgs, pickAccelerator } from './host.ts';
import { configText } from './initramfs.ts';

test('the guest clock figures come from the host cpuinfo (HZ=250 for lpj)', () => {
  const cpuinfo = 'processor\t: 0\ncpu MHz\t\t: 1996.250\nbogomips\t: 3992.50\n';
  assert.deepEqual(clockArgs(cpuinfo), ['tsc_early_khz=1996250', 'lpj=7985000']);
  assert.deepEqual(clockArgs('processor\t: 0\n'), [], 'nothing is guessed when cpuinfo lacks them');
});

test('the accelerator is TCG without a usable /dev/kvm, and says why', () => {
  const picked = pickAccelerator();
  if (!existsSync('/dev/kvm')) assert.deepEqual(picked, { accel: 'tcg', reason: 'no /dev/kvm on this host' });
  else if (existsSync('/sys/module/kvm_pvm')) {
    assert.equal(picked.accel, 'tcg');
    assert.match(picked.reason, /PVM/);
  } else assert.equal(picked.accel, 'kvm');
  assert.equal(pickAccelerator('kvm').accel, 'kvm', 'an explicit choice wins');
});

test('the guest config carries any bytes safely, one item a line', () => {
  const text = configText({
    hostname: 'vm 1\nx',
    process: {
      args: ['/bin/sh', '-c', 'echo "a b"\nexit 3'],
      env: ['A=1 2'],
      cwd: '/work',
      user: { uid: 1000, gid: 1000, additionalGids: [27] },
    },
    network: { ipv4: { address: '10.0.0.2', prefixLength: 24, gateway: '10.0.0.1' } },
    files: [
      { path: '/etc/hosts', content: Buffer.from('127.0.0.1 localhost\n').toString('base64'), mode: 0o600 },
    ],
  });
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'hostname vm1x');
  assert.ok(lines.includes(`arg ${Buffer.from('echo "a b"\nexit 3').toString('hex')}`));
  assert.ok(lines.includes('group 27'));
  assert.ok(lines.includes('ip4 10.0.0.2 24 10.0.0.1'));
  assert.ok(
    lines.includes(
      `file ${Buffer.from('/etc/hosts').toString('hex')} 600 ${Buffer.from('127.0.0.1 localhost\n').toString('hex')}`,
    ),
  );
  for (const line of lines) assert.match(line, /^[a-z0-9]+( [0-9a-zA-Z.:-]+)*$/, `one plain line: ${line}`);
});
