/**
 * `POST /v1/apps/{app}/machines/{id}/console`: an interactive command in a started machine. The
 * request and response bodies are one full-duplex stream of console frames (src/model/console.ts):
 * the API authenticates, finds the machine's host and relays bytes to that host agent's console
 * socket without reading them. Plain HTTP/1.1 chunked bodies, so no Upgrade handling is needed.
 * A cluster host's agent listens on TCP instead (`console_address`): the API first writes a
 * one-time grant to the store and hands the agent its secret, so only an API can open a session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { NearbyError } from '../../errors.ts';
import {
  CONSOLE_CONTENT_TYPE,
  type ConsoleAnswer,
  type ConsoleGrant,
  type ConsoleRequest,
} from '../../model/console.ts';
import { type HostRecord, keys } from '../../model/mod.ts';
import type { Store } from '../../store/mod.ts';
import { apiErrors } from '../errors.ts';
import { type ControlPlane, getRecord, viewOf } from '../machines.ts';
import { appMachineParams } from '../schemas.ts';

interface ConsoleQuery {
  command?: string;
  tty?: 'true' | 'false';
  rows?: string;
  cols?: string;
  term?: string;
}

const consoleQuery = {
  type: 'object',
  properties: {
    command: { type: 'string', description: 'JSON array of argv (default ["/bin/sh"])' },
    tty: { type: 'string', enum: ['true', 'false'] },
    rows: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
    cols: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
    term: { type: 'string', pattern: '^[A-Za-z0-9._+-]{1,64}$' },
  },
  additionalProperties: false,
} as const;

export function consoleRoutes(api: FastifyInstance, cp: ControlPlane): void {
  // The body is the client's half of the stream: leave it unread for the relay.
  api.addContentTypeParser(CONSOLE_CONTENT_TYPE, (_request, _payload, done) => done(null, undefined));
  api.post<{ Params: { app: string; id: string }; Querystring: ConsoleQuery }>(
    '/v1/apps/:app/machines/:id/console',
    {
      schema: {
        summary: 'Run an interactive command in a started machine (a stream of console frames both ways)',
        params: appMachineParams,
        querystring: consoleQuery,
      },
    },
    async (request, reply) => {
      const record = await getRecord(cp.store, request.params.app, request.params.id);
      const view = await viewOf(cp.store, record);
      if (view.state !== 'started') {
        throw apiErrors.machineState(
          record.id,
          view.state,
          'start it first: a console runs in a started machine',
        );
      }
      const host = (await cp.store.get<HostRecord>(keys.host(record.host)))?.value;
      if (!host?.console_socket && !host?.console_address) {
        throw new NearbyError('CONSOLE_UNAVAILABLE', `host ${record.host} does not serve consoles`, {
          status: 503,
          hint: 'its agent may be down or older than this API; `nearby machine exec` may still work',
        });
      }
      const ask: ConsoleRequest = {
        machine: record.id,
        command: parseCommand(request.query.command),
        tty: request.query.tty === 'true',
        rows: request.query.rows === undefined ? undefined : Number(request.query.rows),
        cols: request.query.cols === undefined ? undefined : Number(request.query.cols),
        env: request.query.term ? [`TERM=${request.query.term}`] : [],
      };
      const { socket, rest } = host.console_address
        ? await openGranted(cp.store, host.name, host.console_address, ask)
        : await openSession(host.console_socket as string, ask);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': CONSOLE_CONTENT_TYPE, 'cache-control': 'no-store' });
      // The client waits for this answer before it sends input: send it now, not with the first output.
      res.flushHeaders();
      if (rest.length) res.write(rest);
      socket.pipe(res);
      // A body already read (a JSON client's empty one) has no input left: the session sees its end.
      if (request.raw.readableEnded) socket.end();
      else request.raw.pipe(socket);
      const end = () => {
        socket.destroy();
        res.destroy();
      };
      socket.on('error', end);
      request.raw.on('error', end);
      res.on('close', () => socket.destroy());
    },
  );
}

function parseCommand(text: string | undefined): string[] {
  if (text === undefined) return ['/bin/sh'];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {}
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string')) {
    throw new NearbyError('BAD_REQUEST', 'command: a JSON array of strings, e.g. ["sh","-c","ls /"]', {
      status: 400,
    });
  }
  return value;
}

/** Grants the session in the store (good for one use, 30 s), then opens it on the agent's TCP listener. */
async function openGranted(store: Store, host: string, address: string, ask: ConsoleRequest) {
  const secret = randomBytes(32).toString('base64url');
  const key = keys.consoleGrant(host, createHash('sha256').update(secret).digest('hex'));
  const grant: ConsoleGrant = {
    machine: ask.machine,
    command: ask.command,
    expires_at: new Date(Date.now() + 30_000).toISOString(),
  };
  await store.put(key, grant, { expectRevision: 0 });
  const index = address.lastIndexOf(':');
  const target = {
    host: address.slice(0, index).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(index + 1)),
  };
  try {
    return await openSession(target, { ...ask, grant: secret });
  } catch (error) {
    await store.delete(key).catch(() => false);
    throw error;
  }
}

/** Connects to the agent, asks for the session and reads its one-line answer. */
function openSession(
  where: string | { host: string; port: number },
  ask: ConsoleRequest,
): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = typeof where === 'string' ? connect(where) : connect(where.port, where.host);
    let buffered = Buffer.alloc(0);
    const fail = (error: unknown) => {
      socket.destroy();
      reject(
        error instanceof NearbyError
          ? error
          : new NearbyError('CONSOLE_UNAVAILABLE', "the machine's host agent did not answer", {
              status: 502,
              hint: 'check that `nearby server` runs on that host',
              cause: error,
            }),
      );
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('closed')));
    socket.write(`${JSON.stringify(ask)}\n`);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(10);
      if (newline < 0) return;
      socket.off('data', onData);
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      let answer: ConsoleAnswer;
      try {
        answer = JSON.parse(buffered.subarray(0, newline).toString());
      } catch (error) {
        return fail(error);
      }
      if (!answer.ok) return fail(new NearbyError(answer.code, answer.message, { status: answer.status }));
      socket.pause();
      resolve({ socket, rest: buffered.subarray(newline + 1) });
    };
    socket.on('data', onData);
  });
}
