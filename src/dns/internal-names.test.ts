import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInternalName, parseInternalName } from './internal-names.ts';

test('every name form machines ask, in any case and with the root dot', () => {
  assert.deepEqual(parseInternalName('_apps.internal'), { kind: 'apps' });
  assert.deepEqual(parseInternalName('Web.Internal.'), { kind: 'app', app: 'web' });
  assert.deepEqual(parseInternalName('fra.web.internal'), { kind: 'region', app: 'web', region: 'fra' });
  assert.deepEqual(parseInternalName('vms.web.internal'), { kind: 'vms', app: 'web' });
  assert.deepEqual(parseInternalName('regions.web.internal'), { kind: 'regions', app: 'web' });
  assert.deepEqual(parseInternalName('top2.nearest.of.web.internal'), {
    kind: 'nearest',
    app: 'web',
    count: 2,
  });
  assert.deepEqual(parseInternalName('0123abcd.vm.web.internal'), {
    kind: 'vm',
    app: 'web',
    machine: '0123abcd',
  });
});

test('names under .internal that nearby does not know are unknown (NXDOMAIN); others are not internal', () => {
  for (const name of [
    'internal',
    'top0.nearest.of.web.internal',
    'top65.nearest.of.web.internal',
    'a.b.c.web.internal',
  ])
    assert.deepEqual(parseInternalName(name), { kind: 'unknown' }, name);
  assert.equal(parseInternalName('example.com'), undefined);
  assert.equal(parseInternalName('internal.example.com'), undefined);
  assert.equal(isInternalName('web.internal.'), true);
  assert.equal(isInternalName('notinternal'), false);
});
