/**
 * A client for HAProxy's CLI sockets: the worker's admin socket (Runtime API) and the master
 * CLI. One connection per command, half-closed after writing, so HAProxy answers and hangs up.
 */
import { connect } from 'node:net';
import { runtimeCommandFailed } from './errors.ts';

export interface CommandOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Sends one command line and returns HAProxy's whole answer. */
export function cliCommand(
  socketPath: string,
  command: string,
  options: CommandOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => fail(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    );
    // A command still waiting must not keep a stopping process alive.
    timer.unref();
    const onAbort = () => fail(options.signal?.reason ?? new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    function done() {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    function fail(cause: unknown) {
      done();
      socket.destroy();
      reject(runtimeCommandFailed(command, `cannot talk to ${socketPath}`, cause));
    }
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', fail);
    socket.on('end', () => {
      done();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    // HAProxy stopping mid-answer closes without an end: answer now, not at the timeout.
    socket.on('close', () => fail(new Error('the socket closed before the answer ended')));
    socket.end(`${command}\n`);
  });
}

export interface ServerState {
  backend: string;
  name: string;
  address: string;
  port: number;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** Bit flags: 0x01 forced maintenance, 0x02 inherited, 0x04 from config, 0x08 forced drain, … */
  adminState: number;
}

/** Parses `show servers state` (format version 1). */
export function parseServersState(answer: string): ServerState[] {
  const servers: ServerState[] = [];
  for (const line of answer.split('\n')) {
    if (line === '' || line.startsWith('#') || !line.includes(' ')) continue;
    const fields = line.split(' ');
    if (fields.length < 19) continue;
    servers.push({
      backend: fields[1],
      name: fields[3],
      address: fields[4],
      port: Number(fields[18]),
      opState: Number(fields[5]),
      adminState: Number(fields[6]),
    });
  }
  return servers;
}

/** Parses `show map <file>`: `<ref> <key> <value>` lines. */
export function parseMap(answer: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of answer.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 3 && fields[0].startsWith('0x')) entries.set(fields[1], fields.slice(2).join(' '));
  }
  return entries;
}

export interface ProcEntry {
  pid: number;
  type: string;
  reloads: number;
  failedReloads?: number;
}

/** Parses the master CLI's `show proc`: the master, then current workers (old ones are marked). */
export function parseShowProc(answer: string): { master?: ProcEntry; workers: ProcEntry[] } {
  let master: ProcEntry | undefined;
  const workers: ProcEntry[] = [];
  let section = 'master';
  for (const line of answer.split('\n')) {
    if (line.startsWith('# ')) {
      section = line.slice(2).trim();
      continue;
    }
    const match = /^(\d+)\s+(\S+)\s+(\d+)(?:\s+\[failed: (\d+)\])?/.exec(line);
    if (match === null) continue;
    const entry: ProcEntry = { pid: Number(match[1]), type: match[2], reloads: Number(match[3]) };
    if (match[4] !== undefined) entry.failedReloads = Number(match[4]);
    if (entry.type === 'master') master = entry;
    else if (section === 'workers' && entry.type === 'worker') workers.push(entry);
  }
  return { master, workers };
}

/** The worker's Runtime API (admin socket). Every method throws HAPROXY_COMMAND_FAILED on refusal. */
export class RuntimeApi {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  command(command: string, options?: CommandOptions): Promise<string> {
    return cliCommand(this.socketPath, command, options);
  }

  /** Runs a command whose success answer is empty or one that `ok` accepts. */
  async #expect(command: string, ok: (answer: string) => boolean = () => false): Promise<void> {
    const answer = (await this.command(command)).trim();
    if (answer !== '' && !ok(answer)) throw runtimeCommandFailed(command, answer);
  }

  async pid(): Promise<number> {
    const answer = await this.command('show info');
    const match = /^Pid: (\d+)$/m.exec(answer);
    if (match === null) throw runtimeCommandFailed('show info', answer);
    return Number(match[1]);
  }

  async backends(): Promise<string[]> {
    const answer = await this.command('show backend');
    return answer
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
  }

  /** Every server, or one backend's (HAProxy refuses a backend it does not have). */
  async servers(backend?: string): Promise<ServerState[]> {
    const command = backend === undefined ? 'show servers state' : `show servers state ${backend}`;
    const answer = await this.command(command);
    if (backend !== undefined && /^Can't find backend/m.test(answer))
      throw runtimeCommandFailed(command, answer);
    return parseServersState(answer);
  }

  enableHealth(backend: string, server: string): Promise<void> {
    return this.#expect(`enable health ${backend}/${server}`);
  }

  disableHealth(backend: string, server: string): Promise<void> {
    return this.#expect(`disable health ${backend}/${server}`);
  }

  setServerState(backend: string, server: string, state: 'ready' | 'drain' | 'maint'): Promise<void> {
    return this.#expect(`set server ${backend}/${server} state ${state}`);
  }

  setServerAddress(backend: string, server: string, address: string, port: number): Promise<void> {
    // HAProxy reports a change as a sentence naming the old and new address.
    return this.#expect(`set server ${backend}/${server} addr ${address} port ${port}`, (answer) =>
      /changed from|no need to change/i.test(answer),
    );
  }

  /** 0: no limit. */
  setServerMaxconn(backend: string, server: string, maxconn: number): Promise<void> {
    return this.#expect(`set maxconn server ${backend}/${server} ${maxconn}`);
  }

  setServerWeight(backend: string, server: string, weight: number): Promise<void> {
    return this.#expect(`set weight ${backend}/${server} ${weight}`);
  }

  /** Current sessions per server, by `backend/server` (`show stat`, servers only): all, or one backend's. */
  async serverSessions(backend?: string): Promise<Map<string, number>> {
    const command = `show stat ${backend ?? -1} 4 -1`;
    const csv = await this.command(command);
    if (backend !== undefined && /^No such proxy/m.test(csv)) throw runtimeCommandFailed(command, csv);
    const lines = csv.split('\n');
    const header = (lines[0] ?? '').replace(/^# /, '').split(',');
    const [px, sv, scur] = ['pxname', 'svname', 'scur'].map((name) => header.indexOf(name));
    const sessions = new Map<string, number>();
    for (const line of lines.slice(1)) {
      const fields = line.split(',');
      if (fields.length < header.length - 1) continue;
      sessions.set(`${fields[px]}/${fields[sv]}`, Number(fields[scur]) || 0);
    }
    return sessions;
  }

  shutdownSessions(backend: string, server: string): Promise<void> {
    return this.#expect(`shutdown sessions server ${backend}/${server}`);
  }

  /** A command with a payload (`<<`): HAProxy reads lines until an empty one. */
  async #payload(command: string, payload: string, ok: RegExp): Promise<void> {
    const answer = (await this.command(`${command} <<\n${payload.trim()}\n`)).trim();
    if (!ok.test(answer)) throw runtimeCommandFailed(command, answer);
  }

  async newSslCert(file: string): Promise<void> {
    const answer = (await this.command(`new ssl cert ${file}`)).trim();
    if (!/^New empty certificate store/i.test(answer) && !/already exists/i.test(answer)) {
      throw runtimeCommandFailed(`new ssl cert ${file}`, answer);
    }
  }

  setSslCert(file: string, pem: string): Promise<void> {
    return this.#payload(`set ssl cert ${file}`, pem, /^Transaction (created|updated)/i);
  }

  async commitSslCert(file: string): Promise<void> {
    const answer = await this.command(`commit ssl cert ${file}`);
    if (!/Success!/.test(answer)) throw runtimeCommandFailed(`commit ssl cert ${file}`, answer);
  }

  addCrtListEntry(crtList: string, line: string): Promise<void> {
    return this.#payload(`add ssl crt-list ${crtList}`, line, /Success!/);
  }

  async deleteCrtListEntry(crtList: string, file: string): Promise<void> {
    const answer = (await this.command(`del ssl crt-list ${crtList} ${file}`)).trim();
    if (!/deleted/i.test(answer) && !/not found|doesn't exist/i.test(answer)) {
      throw runtimeCommandFailed(`del ssl crt-list ${crtList} ${file}`, answer);
    }
  }

  async deleteSslCert(file: string): Promise<void> {
    const answer = (await this.command(`del ssl cert ${file}`)).trim();
    if (!/deleted/i.test(answer) && !/not found|doesn't exist/i.test(answer)) {
      throw runtimeCommandFailed(`del ssl cert ${file}`, answer);
    }
  }

  async showMap(file: string): Promise<Map<string, string>> {
    return parseMap(await this.command(`show map ${file}`));
  }

  addMap(file: string, key: string, value: string): Promise<void> {
    return this.#expect(`add map ${file} ${key} ${value}`);
  }

  setMap(file: string, key: string, value: string): Promise<void> {
    return this.#expect(`set map ${file} ${key} ${value}`);
  }

  deleteMap(file: string, key: string): Promise<void> {
    return this.#expect(`del map ${file} ${key}`);
  }
}
