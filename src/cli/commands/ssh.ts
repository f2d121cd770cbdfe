/**
 * `nearby ssh console`: a shell (or `-C COMMAND`) inside a started machine, with a terminal when
 * stdin is one. It speaks console frames (src/model/console.ts) over one full-duplex API request;
 * the API relays them to the machine's host agent. Exits with the command's exit code.
 */

import { existsSync } from 'node:fs';
import { loadConfig } from '../../config/mod.ts';
import { splitShellWords } from '../../config/shell-words.ts';
import { NearbyError } from '../../errors.ts';
import { CONSOLE_CONTENT_TYPE, FRAME, FrameReader, frame } from '../../model/console.ts';
import { appName } from '../app-name.ts';
import type { ApiClient } from '../client.ts';
import { appOption, type Command, configPath, usageError } from '../command.ts';
import { machinesApi } from '../machines-client.ts';

const consoleCommand: Command = {
  name: 'ssh console',
  summary: 'open a shell (or run a command) inside a machine',
  help: `Usage: nearby ssh console [-a APP] [--machine ID] [-C COMMAND] [--pty | --no-pty]

Opens /bin/sh (or the config's console_command) in a started machine of the app: the one given
with --machine, else the first started one. -C runs COMMAND instead (split like a shell would,
not run by one). A terminal is allocated when stdin is a terminal and no -C is given; --pty or
--no-pty decides otherwise. Exits with the command's exit code.`,
  options: {
    ...appOption,
    machine: { type: 'string', short: 's' },
    command: { type: 'string', short: 'C' },
    pty: { type: 'boolean' },
    'no-pty': { type: 'boolean' },
  },
  async run({ client, values }) {
    const api = client();
    const app = await appName(values);
    const id = (values.machine as string | undefined) ?? (await firstStarted(api, app));
    const command = await commandToRun(values);
    const tty = values.pty
      ? true
      : values['no-pty']
        ? false
        : Boolean(process.stdin.isTTY) && values.command === undefined;
    const query = new URLSearchParams({ command: JSON.stringify(command), tty: String(tty) });
    if (tty && process.stdout.isTTY) {
      query.set('rows', String(process.stdout.rows));
      query.set('cols', String(process.stdout.columns));
    }
    if (tty)
      query.set('term', /^[A-Za-z0-9._+-]{1,64}$/.test(process.env.TERM ?? '') ? process.env.TERM! : 'xterm');
    const { request, response } = await api.duplex(
      `/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(id)}/console?${query}`,
      CONSOLE_CONTENT_TYPE,
    );
    return relay(request, response, tty);
  },
};

async function firstStarted(api: ApiClient, app: string): Promise<string> {
  const started = (await machinesApi.list(api, app)).filter((m) => m.state === 'started');
  if (started.length === 0) {
    throw new NearbyError('NO_STARTED_MACHINE', `app ${app} has no started machine to open a console in`, {
      hint: `start one (\`nearby machine start ID -a ${app}\`) or pass --machine ID`,
    });
  }
  return started[0].id;
}

async function commandToRun(values: Record<string, unknown>): Promise<string[]> {
  let text = values.command as string | undefined;
  if (text === undefined) {
    const path = configPath(values as never);
    if (existsSync(path)) text = (await loadConfig(path)).config?.console_command;
  }
  if (text === undefined) return ['/bin/sh'];
  const words = splitShellWords(text);
  if (!words?.length) throw usageError(`cannot split the command: ${text}`, consoleCommand);
  return words;
}

function relay(
  request: import('node:http').ClientRequest,
  response: import('node:http').IncomingMessage,
  tty: boolean,
): Promise<number> {
  const stdin = process.stdin;
  const raw = tty && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  const onInput = (chunk: Buffer) => request.write(frame(FRAME.stdin, chunk));
  const onEnd = () => request.write(frame(FRAME.eof));
  const onResize = () =>
    request.write(frame(FRAME.resize, `${process.stdout.rows} ${process.stdout.columns}`));
  stdin.on('data', onInput);
  stdin.on('end', onEnd);
  if (tty && process.stdout.isTTY) process.stdout.on('resize', onResize);
  const reader = new FrameReader();
  return new Promise<number>((resolve) => {
    let code: number | undefined;
    const finish = (exit: number) => {
      if (raw) stdin.setRawMode(false);
      stdin.off('data', onInput);
      stdin.off('end', onEnd);
      stdin.pause();
      process.stdout.off('resize', onResize);
      request.end();
      resolve(exit);
    };
    response.on('data', (chunk: Buffer) => {
      for (const { type, payload } of reader.push(chunk)) {
        if (type === FRAME.stdout) process.stdout.write(payload);
        else if (type === FRAME.stderr) process.stderr.write(payload);
        else if (type === FRAME.exit) code = Number(payload.toString());
      }
    });
    response.on('end', () => finish(code ?? 255));
    response.on('error', () => finish(code ?? 255));
  });
}

export const ssh: Command = {
  name: 'ssh',
  summary: 'a shell inside a machine',
  help: 'Usage: nearby ssh console [-a APP] [--machine ID] [-C COMMAND]',
  subcommands: [consoleCommand],
};
