import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runCommand } from './command.ts';
import { createHostNetwork, natRules, vethNames } from './mod.ts';

const tag = randomBytes(2).toString('hex');
const options = {
  bridge: `nbt${tag}`,
  ipv4Cidr: `10.${randomInt(100, 250)}.${randomInt(0, 250)}.0/24`,
  // Hextets without leading zeros, as `ip` prints them (a tag like 0db7 would read back as db7).
  ipv6Cidr: `fdbb:${Number.parseInt(tag, 16).toString(16)}:${randomInt(1, 0xffff).toString(16)}::/64`,
  netnsPrefix: `nbt${tag}-`,
};
const network = createHostNetwork(options);
const ip = async (...args: string[]) => (await runCommand('ip', args)).stdout;

describe('host network', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  before(async () => {
    await network.ensure();
    await network.ensure(); // idempotent
  });
  after(() => network.teardown());

  it('makes the bridge with the first addresses of both subnets, forwarding and NAT', async () => {
    const addresses = await ip('-o', 'addr', 'show', 'dev', options.bridge);
    assert.match(
      addresses,
      new RegExp(`inet ${options.ipv4Cidr.replace('.0/24', '.1/24').replaceAll('.', '\\.')}`),
    );
    assert.match(addresses, new RegExp(`inet6 ${options.ipv6Cidr.replace('::/64', '::1/64')}`));
    assert.match(await ip('link', 'show', options.bridge), /state UP|UNKNOWN|DOWN/);
    assert.equal((await runCommand('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
    const rules = await natRules(options.bridge);
    assert.match(
      rules,
      new RegExp(
        `ip saddr ${options.ipv4Cidr.replaceAll('.', '\\.')} oifname != "${options.bridge}" masquerade`,
      ),
    );
    assert.match(rules, /ip6 saddr .* masquerade/);
  });

  it('attaches machines in their own namespace, reachable from the host, and detaches them', async () => {
    const first = network.allocate([]);
    const a = await network.attach('m1', first, 'personal');
    const again = await network.attach('m1', first, 'personal'); // idempotent
    assert.equal(again.netnsPath, `/run/netns/${options.netnsPrefix}m1`);
    const second = network.allocate([first.ipv4]);
    assert.notEqual(second.ipv4, first.ipv4);
    await network.attach('m2', second, 'personal');

    const inside = await ip('-n', `${options.netnsPrefix}m1`, '-o', 'addr', 'show', 'dev', 'eth0');
    assert.match(inside, new RegExp(`inet ${first.ipv4.replaceAll('.', '\\.')}/24`));
    assert.match(inside, new RegExp(`inet6 ${first.ipv6}/64`));
    assert.match(await ip('-n', `${options.netnsPrefix}m1`, 'route'), /^default via/m);
    assert.match(await ip('-n', `${options.netnsPrefix}m1`, '-6', 'route'), /^default via/m);
    const host = vethNames(options.bridge, 'm1').host;
    assert.ok(host.length <= 15);
    assert.match(await ip('link', 'show', host), new RegExp(`master ${options.bridge}`));

    // Machine to machine across the bridge, both address families.
    const ping4 = await runCommand('ip', [
      'netns',
      'exec',
      `${options.netnsPrefix}m2`,
      'busybox',
      'ping',
      '-c1',
      '-W2',
      first.ipv4,
    ]);
    assert.equal(ping4.code, 0, ping4.stdout + ping4.stderr);
    const ping6 = await runCommand('ip', [
      'netns',
      'exec',
      `${options.netnsPrefix}m2`,
      'busybox',
      'ping6',
      '-c1',
      '-W2',
      first.ipv6,
    ]);
    assert.equal(ping6.code, 0, ping6.stdout + ping6.stderr);

    await network.detach('m1');
    await network.detach('m1'); // idempotent
    assert.equal(existsSync(a.netnsPath), false);
    assert.equal((await runCommand('ip', ['link', 'show', host])).code, 1);
  });

  it('teardown removes the bridge, namespaces, veths and NAT table', async () => {
    const scratch = createHostNetwork({ ...options, bridge: `nbu${tag}`, netnsPrefix: `nbu${tag}-` });
    await scratch.ensure();
    await scratch.attach('m3', scratch.allocate([]), 'personal');
    await scratch.teardown();
    await scratch.teardown(); // idempotent
    assert.equal((await runCommand('ip', ['link', 'show', `nbu${tag}`])).code, 1);
    assert.equal(existsSync(`/run/netns/nbu${tag}-m3`), false);
    assert.equal((await runCommand('ip', ['link', 'show', vethNames(`nbu${tag}`, 'm3').host])).code, 1);
    assert.equal(await natRules(`nbu${tag}`), '');
  });
});
