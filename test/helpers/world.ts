/** For world tests: a free world name and /16 (tests run side by side), and the hello image pushed to a world. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildImage } from '../../src/oci/build.ts';
import { pushImage } from '../../src/oci/push.ts';
import { busyboxLayer, helloBinaryLayer, PATH_ENV } from './images.ts';

const run = promisify(execFile);

/** A 10.X.0.0/16 no interface of this host uses, and a world name no namespace has. */
export async function freeWorld(): Promise<{ octet: number; name: string }> {
  const { stdout: addresses } = await run('ip', ['-o', 'addr']);
  const { stdout: namespaces } = await run('ip', ['netns', 'list']);
  for (;;) {
    const octet = 100 + Math.floor(Math.random() * 100);
    const name = `t${octet}`;
    if (!addresses.includes(` 10.${octet}.`) && !namespaces.includes(`nbw${name}-`)) return { octet, name };
  }
}

/** Builds the hello image (it answers `hello from <machine> in <region>`) and pushes it as `hello:1`, as the README says: a nearby token as the password. */
export async function pushHello(registry: string, token: string): Promise<void> {
  const built = await buildImage({
    layers: [await busyboxLayer(), await helloBinaryLayer()],
    config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
  });
  await pushImage(registry, 'hello', '1', built, {
    credentials: () => ({ username: 'x', password: token }),
    insecureRegistries: [registry],
  });
}
