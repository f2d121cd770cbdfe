import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCommand } from './command.ts';
import { meshRules } from './mesh-rules.ts';

const orgs = new Map([
  ['x', { local6: ['fdaa:0:100:1::2'], local4: ['172.20.1.2'], remote6: ['fdaa:0:100:2::2'], remote4: [] }],
  ['y', { local6: [], local4: [], remote6: ['fdaa:0:100:2::3'], remote4: ['172.20.2.3'] }],
]);

test('from the mesh into the bridge only same-org pairs pass, then everything else is dropped', () => {
  const rules = meshRules('nbw0', 'nbwg0123456789', orgs);
  const forward = rules.slice(rules.indexOf('chain forward'));
  const lines = forward.split('\n').map((line) => line.trim());
  const drop = lines.indexOf('drop');
  const pairs = lines.filter((line) => line.endsWith('accept') && line.includes('daddr @'));
  assert.equal(pairs.length, 4);
  for (const pair of pairs) {
    const [source, destination] = [...pair.matchAll(/@(org_[0-9a-f]+)_/g)].map((match) => match[1]);
    assert.equal(source, destination, `${pair}: one org on both sides`);
    assert.ok(lines.indexOf(pair) < drop);
  }
  assert.match(forward, /iifname != "nbwg0123456789" accept/);
  assert.match(forward, /priority filter - 1/);
  // Into the host from the mesh: the hosts' own addresses only, never a machine's.
  assert.match(rules, /chain input \{[^}]*ip6 saddr fdaa:0:ff::\/64 accept\s+drop/);
});

test('the table is valid nftables, with and without orgs (checked, not applied)', async () => {
  for (const wanted of [orgs, new Map()]) {
    const checked = await runCommand('nft', ['-c', '-f', '-'], { input: meshRules('nbw0', 'nbwg0', wanted) });
    assert.equal(checked.code, 0, checked.stderr);
  }
});
