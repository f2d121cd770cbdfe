/** `nearby machine list|run|start|stop|restart|suspend|cordon|uncordon|exec|destroy|status`. */
import type { MachineConfig, MachineView } from '../../model/mod.ts';
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { machinesApi } from '../machines-client.ts';
import { ago, shortDigest, table } from '../output.ts';

export function machineRows(machines: MachineView[]): string {
  return table(
    ['ID', 'NAME', 'STATE', 'REGION', 'IMAGE', 'DIGEST', 'ADDRESS', 'UPDATED'],
    machines.map((m) => [
      m.id,
      m.name,
      m.state,
      m.region,
      `${m.image_ref.repository}:${m.image_ref.tag}`,
      shortDigest(m.image_ref.digest),
      m.private_ip || '-',
      ago(m.updated_at),
    ]),
  );
}

const list: Command = {
  name: 'machine list',
  summary: "list an app's machines",
  help: 'Usage: nearby machine list [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const machines = await machinesApi.list(client(), await appName(values));
    out(values.json ? JSON.stringify(machines, null, 2) : machineRows(machines));
    return 0;
  },
};

const run: Command = {
  name: 'machine run',
  summary: 'create and start a machine from an image',
  help: `Usage: nearby machine run IMAGE [COMMAND...] [-a APP] [options]

Options:
  --name NAME          machine name
  --region REGION      where to run it (default: the server's region): the least loaded host
                       there with room for it (see \`nearby platform regions\`)
  -e, --env K=V        environment variable (repeatable)
  -p, --port PORT      internal port to route HTTP to (routes <app>.<apps-domain> to it)
  --memory MB          memory limit (default 256)
  --cpus N             CPU limit (default 1)
  --restart POLICY     no | on-failure | always
  --entrypoint CMD     replace the image's ENTRYPOINT
  --detach             do not wait for the machine to start`,
  options: {
    ...appOption,
    name: { type: 'string' },
    region: { type: 'string' },
    env: { type: 'string', short: 'e', multiple: true },
    port: { type: 'string', short: 'p' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    restart: { type: 'string' },
    entrypoint: { type: 'string' },
    detach: { type: 'boolean' },
  },
  async run({ client, out, values, positionals }) {
    const [image, ...command] = positionals;
    if (!image) throw usageError('give an image: nearby machine run IMAGE', run);
    const app = await appName(values);
    const config: MachineConfig = { image };
    const env = Object.fromEntries(
      ((values.env as string[] | undefined) ?? []).map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 1) throw usageError(`--env ${pair}: expected KEY=VALUE`, run);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    );
    if (Object.keys(env).length) config.env = env;
    if (command.length) config.init = { cmd: command };
    if (values.entrypoint) config.init = { ...config.init, entrypoint: [values.entrypoint as string] };
    const memory = values.memory === undefined ? undefined : Number(values.memory);
    const cpus = values.cpus === undefined ? undefined : Number(values.cpus);
    if (memory !== undefined && !Number.isInteger(memory))
      throw usageError('--memory: a whole number of MB', run);
    if (cpus !== undefined && !Number.isInteger(cpus)) throw usageError('--cpus: a whole number', run);
    if (memory || cpus) config.guest = { cpu_kind: 'shared', cpus: cpus ?? 1, memory_mb: memory ?? 256 };
    if (values.restart) config.restart = { policy: values.restart as 'no' | 'on-failure' | 'always' };
    if (values.port) {
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError('--port: 1–65535', run);
      config.services = [{ protocol: 'tcp', internal_port: port, ports: [{ port: 80, handlers: ['http'] }] }];
    }
    const machine = await machinesApi.create(client(), app, {
      config,
      name: values.name as string | undefined,
      region: values.region as string | undefined,
    });
    out(`Machine ${machine.id} (${machine.name}) created in ${machine.region}`);
    if (!values.detach) {
      await machinesApi.wait(client(), app, machine.id, 'started', 60);
      const view = await machinesApi.get(client(), app, machine.id);
      out(`Machine ${machine.id} is ${view.state}${view.private_ip ? ` at ${view.private_ip}` : ''}`);
    }
    return 0;
  },
};

type Verb = 'start' | 'stop' | 'destroy' | 'restart' | 'suspend' | 'cordon' | 'uncordon';

function idCommand(verb: Verb, summary: string, extra = ''): Command {
  const command: Command = {
    name: `machine ${verb}`,
    summary,
    help: `Usage: nearby machine ${verb} ID... [-a APP]${extra}`,
    options: {
      ...appOption,
      ...(verb === 'stop' || verb === 'restart'
        ? { signal: { type: 'string', short: 's' }, timeout: { type: 'string' } }
        : {}),
      ...(verb === 'destroy' ? { force: { type: 'boolean', short: 'f' } } : {}),
    },
    async run({ client, out, values, positionals }) {
      if (positionals.length === 0) throw usageError(`which machine? nearby machine ${verb} ID`, command);
      const app = await appName(values);
      for (const id of positionals) {
        if (verb === 'start') {
          await machinesApi.start(client(), app, id);
          await machinesApi.wait(client(), app, id, 'started', 60);
          out(`Machine ${id} started`);
        } else if (verb === 'stop') {
          await machinesApi.stop(client(), app, id, {
            signal: values.signal as string | undefined,
            timeout: values.timeout as string | undefined,
          });
          await machinesApi.wait(client(), app, id, 'stopped', 60);
          out(`Machine ${id} stopped`);
        } else if (verb === 'restart') {
          const query = new URLSearchParams();
          if (values.signal) query.set('signal', values.signal as string);
          if (values.timeout) query.set('timeout', values.timeout as string);
          await client().request('POST', `${machinePath(app, id)}/restart?${query}`);
          await machinesApi.wait(client(), app, id, 'started', 60);
          out(`Machine ${id} restarted`);
        } else if (verb === 'suspend') {
          await client().request('POST', `${machinePath(app, id)}/suspend`);
          await machinesApi.wait(client(), app, id, 'suspended', 60);
          out(`Machine ${id} suspended`);
        } else if (verb === 'cordon' || verb === 'uncordon') {
          await client().request('POST', `${machinePath(app, id)}/${verb}`);
          out(
            `Machine ${id} ${verb === 'cordon' ? 'cordoned: the proxy sends it no traffic' : 'uncordoned'}`,
          );
        } else {
          await machinesApi.destroy(client(), app, id, Boolean(values.force));
          await machinesApi.wait(client(), app, id, 'destroyed', 60);
          out(`Machine ${id} destroyed`);
        }
      }
      return 0;
    },
  };
  return command;
}

const machinePath = (app: string, id: string) =>
  `/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(id)}`;

const exec: Command = {
  name: 'machine exec',
  summary: 'run a command in a started machine',
  help: `Usage: nearby machine exec ID COMMAND... [-a APP] [--timeout SECONDS]

Prints the command's stdout and stderr, and exits with its exit code.`,
  options: { ...appOption, timeout: { type: 'string' } },
  async run({ client, values, positionals }) {
    const [id, ...command] = positionals;
    if (!id || command.length === 0) throw usageError('nearby machine exec ID COMMAND...', exec);
    const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= 60)) {
      throw usageError('--timeout: whole seconds from 1 to 60', exec);
    }
    const result = await client().request<{ stdout: string; stderr: string; exit_code: number }>(
      'POST',
      `${machinePath(await appName(values), id)}/exec`,
      { command, timeout },
    );
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    return result.exit_code;
  },
};

const status: Command = {
  name: 'machine status',
  summary: "show one machine's state, config and events",
  help: 'Usage: nearby machine status ID [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values, positionals }) {
    const [id] = positionals;
    if (!id) throw usageError('which machine? nearby machine status ID', status);
    const machine = await machinesApi.get(client(), await appName(values), id);
    if (values.json) {
      out(JSON.stringify(machine, null, 2));
      return 0;
    }
    out(machineRows([machine]));
    if (machine.cordoned) out('\nCordoned: the proxy sends it no traffic');
    if (machine.nearby.error) out(`\n${machine.nearby.stuck ? 'Stuck' : 'Error'}: ${machine.nearby.error}`);
    out('\nEvents:');
    out(
      table(
        ['TIME', 'TYPE', 'STATUS', 'SOURCE', 'DETAIL'],
        machine.events.map((e) => [
          new Date(e.timestamp).toISOString(),
          e.type,
          e.status,
          e.source,
          e.request ? JSON.stringify(e.request) : '',
        ]),
      ),
    );
    return 0;
  },
};

export const machine: Command = {
  name: 'machine',
  summary: 'manage individual machines',
  help: 'Usage: nearby machine <list|run|start|stop|restart|suspend|cordon|uncordon|exec|destroy|status>',
  subcommands: [
    list,
    run,
    idCommand('start', 'start stopped machines'),
    idCommand('stop', 'stop machines', ' [--signal SIG] [--timeout 30s]'),
    idCommand('restart', 'restart machines', ' [--signal SIG] [--timeout 30s]'),
    idCommand('suspend', 'suspend machines (memory kept; start resumes them)'),
    idCommand('cordon', 'take machines out of the proxy (they keep running)'),
    idCommand('uncordon', 'route traffic to machines again'),
    exec,
    idCommand('destroy', 'destroy machines', ' [--force]'),
    status,
  ],
};
