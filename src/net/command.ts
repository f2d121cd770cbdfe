/** Runs `ip`/`nft`/… for the network part: failures carry the command line and its stderr. */
import { runCommand } from '../run-command.ts';
import { networkCommandFailed } from './errors.ts';

export { runCommand } from '../run-command.ts';

/** Throws NETWORK_COMMAND_FAILED unless the command succeeds (or its stderr matches `tolerate`). */
export async function mustRun(file: string, args: string[], tolerate?: RegExp, input?: string) {
  const result = await runCommand(file, args, { input, timeoutMs: 30_000 });
  if (result.code !== 0 && !tolerate?.test(result.stderr)) {
    throw networkCommandFailed(`${file} ${args.join(' ')}`, result.stderr);
  }
  return result;
}
