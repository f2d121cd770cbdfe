/** For world tests: a world name and /16 no other world on this host uses (helpers run side by side). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

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
