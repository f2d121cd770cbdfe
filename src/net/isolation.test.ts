import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { runCommand } from './command.ts';
import { createHostNetwork, gatewayAddresses, isolationRules, vethNames } from './mod.ts';
import type { MachineAddresses } from './types.ts';

const tag = randomBytes(2).toString('hex');
const openPort = randomInt(20_000, 30_000);
const closedPort = openPort + 1;
const options = {
  bridge: `nbi${tag}`,
  ipv4Cidr: `10.${randomInt(100, 250)}.${randomInt(0, 250)}.0/24`,
  ipv6Cidr: `fdbc:${Number.parseInt(tag, 16).toString(16)}:${randomInt(1, 0xffff).toString(16)}::/64`,
  netnsPrefix: `nbi${tag}-`,
  hostTcpPorts: [openPort],
};
const network = createHostNetwork(options);
const gateway = gatewayAddresses(options.ipv4Cidr, options.ipv6Cidr);
const machines = new Map<string, MachineAddresses & { org: string }>();

/** Pings `to` from inside machine `from`'s namespace (optionally from a chosen source address). */
async function reaches(from: string, to: string, source?: string): Promise<boolean> {
  const ping = to.includes(':') ? 'ping6' : 'ping';
  const args = ['netns', 'exec', `${options.netnsPrefix}${from}`, 'busybox', ping, '-c1', '-W1'];
  const result = await runCommand('ip', [...args, ...(source ? ['-I', source] : []), to]);
  return result.code === 0;
}

/** A TCP connection from inside machine `from` to `host:port`: whether it was accepted. */
async function connects(from: string, host: string, port: number): Promise<boolean> {
  const target = host.includes(':') ? `[${host}]` : host;
  const result = await runCommand('ip', [
    ...['netns', 'exec', `${options.netnsPrefix}${from}`, 'curl', '-s', '-o', '/dev/null'],
    ...['--connect-timeout', '2', `http://${target}:${port}/`],
  ]);
  return result.code === 0 || result.code === 52; // 52: connected, the listener said nothing
}

async function attach(id: string, org: string): Promise<void> {
  const addresses = network.allocate([...machines.values()].map((m) => m.ipv4));
  machines.set(id, { ...addresses, org });
  await network.attach(id, addresses, org);
}

const address = (id: string, family: 'ipv4' | 'ipv6') => machines.get(id)?.[family] ?? '';

describe('organisation isolation', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const listeners: Server[] = [];
  before(async () => {
    await network.ensure();
    await network.isolate([]);
    await attach('a1', 'acme');
    await attach('a2', 'acme');
    await attach('b1', 'personal');
    // Host services on the bridge's own addresses: one on the port machines may open, one not.
    for (const port of [openPort, closedPort]) {
      for (const host of [gateway.ipv4, gateway.ipv6]) {
        const server = createServer((socket) => socket.end());
        await new Promise<void>((resolve) => server.listen({ host, port }, resolve));
        listeners.push(server);
      }
    }
  });
  after(async () => {
    for (const server of listeners) server.close();
    await network.teardown();
  });

  it('lets machines of one org reach each other on both families, and no other org', async () => {
    for (const family of ['ipv4', 'ipv6'] as const) {
      assert.equal(await reaches('a1', address('a2', family)), true, `a1 -> a2 ${family}`);
      assert.equal(await reaches('a2', address('a1', family)), true, `a2 -> a1 ${family}`);
      assert.equal(await reaches('a1', address('b1', family)), false, `a1 -> b1 ${family}`);
      assert.equal(await reaches('b1', address('a1', family)), false, `b1 -> a1 ${family}`);
    }
  });

  it('drops a machine that sends from an address not its own', async () => {
    // b1 takes a1's addresses as extra ones (what a microVM's kernel could do).
    const inB1 = ['-n', `${options.netnsPrefix}b1`];
    await runCommand('ip', [...inB1, 'addr', 'add', `${address('a1', 'ipv4')}/32`, 'dev', 'eth0']);
    await runCommand('ip', [
      ...inB1,
      '-6',
      'addr',
      'add',
      `${address('a1', 'ipv6')}/128`,
      'dev',
      'eth0',
      'nodad',
    ]);
    try {
      assert.equal(await reaches('b1', address('a2', 'ipv4'), address('a1', 'ipv4')), false);
      assert.equal(await reaches('b1', address('a2', 'ipv6'), address('a1', 'ipv6')), false);
    } finally {
      await runCommand('ip', [...inB1, 'addr', 'del', `${address('a1', 'ipv4')}/32`, 'dev', 'eth0']);
      await runCommand('ip', [...inB1, '-6', 'addr', 'del', `${address('a1', 'ipv6')}/128`, 'dev', 'eth0']);
    }
  });

  it('does not route one machine to another through the host', async () => {
    const inB1 = ['-n', `${options.netnsPrefix}b1`];
    await runCommand('ip', [...inB1, 'route', 'add', `${address('a1', 'ipv4')}/32`, 'via', gateway.ipv4]);
    await runCommand('ip', [
      ...inB1,
      '-6',
      'route',
      'add',
      `${address('a1', 'ipv6')}/128`,
      'via',
      gateway.ipv6,
    ]);
    try {
      assert.equal(await reaches('b1', address('a1', 'ipv4')), false);
      assert.equal(await reaches('b1', address('a1', 'ipv6')), false);
    } finally {
      await runCommand('ip', [...inB1, 'route', 'del', `${address('a1', 'ipv4')}/32`]);
      await runCommand('ip', [...inB1, '-6', 'route', 'del', `${address('a1', 'ipv6')}/128`]);
    }
  });

  it("closes the host to machines except the proxy's ports, and the host still reaches them", async () => {
    for (const host of [gateway.ipv4, gateway.ipv6]) {
      assert.equal(await connects('a1', host, closedPort), false, `${host}:${closedPort}`);
      assert.equal(await connects('a1', host, openPort), true, `${host}:${openPort}`);
    }
    assert.equal(await reaches('a1', gateway.ipv4), false, 'ping the host');
    const fromHost = await runCommand('busybox', ['ping', '-c1', '-W2', address('a1', 'ipv4')]);
    assert.equal(fromHost.code, 0, fromHost.stdout + fromHost.stderr);
  });

  it('keeps the rules when the network is ensured again (a restart) and rebuilds them exactly', async () => {
    const restarted = createHostNetwork(options);
    await restarted.ensure();
    assert.equal(await reaches('a1', address('a2', 'ipv4')), true, 'kept across ensure()');
    // The store's view after a restart lacks a2: its port is fenced off, the others keep their org.
    const member = (id: string) => ({
      machineId: id,
      ...(machines.get(id) as MachineAddresses & { org: string }),
    });
    await restarted.isolate([member('a1'), member('b1')]);
    assert.equal(await reaches('a2', address('a1', 'ipv4')), false, 'a2 is no member any more');
    assert.equal(await reaches('a1', address('b1', 'ipv6')), false);
    await restarted.isolate([member('a1'), member('a2'), member('b1')]);
    assert.equal(await reaches('a2', address('a1', 'ipv6')), true);
  });

  it('forgets a detached machine and removes its tables on teardown', async () => {
    const port = vethNames(options.bridge, 'a2').host;
    assert.match(await isolationRules(options.bridge), new RegExp(port));
    await network.detach('a2');
    await network.detach('a2'); // idempotent
    assert.doesNotMatch(await isolationRules(options.bridge), new RegExp(port));
    const scratch = createHostNetwork({ ...options, bridge: `nbj${tag}`, netnsPrefix: `nbj${tag}-` });
    await scratch.ensure();
    await scratch.attach('m', scratch.allocate([]), 'acme');
    assert.notEqual(await isolationRules(`nbj${tag}`), '');
    await scratch.teardown();
    assert.equal(await isolationRules(`nbj${tag}`), '');
  });
});
