/**
 * `npm run demo-registry`: a local registry on 127.0.0.1:5000 (Debian's docker-registry) holding
 * the `hello` test image, so the README's commands work on a host without a registry of its own.
 * Runs in the foreground; Ctrl-C stops it and deletes its storage.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { helloImage } from '../test/helpers/images.ts';

const address = process.env.DEMO_REGISTRY_ADDR ?? '127.0.0.1:5000';
const dir = await mkdtemp(join(tmpdir(), 'nearby-demo-registry-'));
await writeFile(
  join(dir, 'config.yml'),
  `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${address}\n`,
);
const registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
const stop = () => registry.kill('SIGTERM');
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
registry.once('exit', async (code) => {
  await rm(dir, { recursive: true, force: true });
  if (code) console.error(`docker-registry exited with ${code} (is ${address} taken?)`);
  process.exit(code ? 1 : 0);
});
for (let i = 0; i < 100; i++) {
  if (
    await fetch(`http://${address}/v2/`).then(
      (r) => r.ok,
      () => false,
    )
  )
    break;
  await delay(100);
}
console.log(`registry on ${address} holds ${await helloImage(address)}; Ctrl-C to stop it`);
