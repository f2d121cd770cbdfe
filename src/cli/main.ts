/** `nearby`: the command line. Prints errors as a message and a hint; `--debug` adds the stack. */
import { NearbyError } from '../errors.ts';
import { nearbyVersion } from '../version.ts';
import { ApiClient } from './client.ts';
import { type Command, parse, usageError } from './command.ts';
import { anycast } from './commands/anycast.ts';
import { apps } from './commands/apps.ts';
import { autoscale } from './commands/autoscale.ts';
import { billing } from './commands/billing.ts';
import { certs } from './commands/certs.ts';
import { config } from './commands/config.ts';
import { deploy } from './commands/deploy.ts';
import { dns } from './commands/dns.ts';
import { events } from './commands/events.ts';
import { host } from './commands/host.ts';
import { launch } from './commands/launch.ts';
import { logs } from './commands/logs.ts';
import { machine } from './commands/machine.ts';
import { nats } from './commands/nats.ts';
import { agentPart, apiPart, nodePart, proxyPart } from './commands/parts.ts';
import { platform } from './commands/platform.ts';
import { releases } from './commands/releases.ts';
import { scale } from './commands/scale.ts';
import { secrets } from './commands/secrets.ts';
import { server } from './commands/server.ts';
import { ssh } from './commands/ssh.ts';
import { status } from './commands/status.ts';
import { tokens } from './commands/tokens.ts';
import { volumes } from './commands/volumes.ts';
import { world } from './commands/world.ts';
import { reportError } from './output.ts';

const commands: Command[] = [
  launch,
  deploy,
  releases,
  status,
  logs,
  events,
  machine,
  ssh,
  scale,
  autoscale,
  apps,
  secrets,
  volumes,
  tokens,
  billing,
  certs,
  config,
  server,
  apiPart,
  nodePart,
  agentPart,
  proxyPart,
  host,
  nats,
  platform,
  world,
  dns,
  anycast,
];

const topHelp = `nearby: run OCI images as machines on your own hosts, routed to the nearest healthy instance.

Usage: nearby <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

Start here:
  nearby launch --image REGISTRY/NAME:TAG --name APP   create the app, write nearby.toml
  nearby deploy                                       start its machines
  curl http://APP.localhost:8080/                     reach it through the edge proxy

Every command takes --help. The API is found through NEARBY_API_URL (default
http://127.0.0.1:4280) and NEARBY_API_TOKEN (default: the admin token in ~/.nearby).`;

function helpOf(command: Command): string {
  const subs = command.subcommands?.map((s) => `  ${s.name.padEnd(18)} ${s.summary}`).join('\n');
  return subs ? `${command.help}\n\nCommands:\n${subs}` : command.help;
}

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const [name, ...rest] = argv;
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(`${topHelp}\n`);
      return name ? 0 : 2;
    }
    if (name === '--version' || name === 'version') {
      process.stdout.write(`nearby ${nearbyVersion}\n`);
      return 0;
    }
    let command = commands.find((c) => c.name === name);
    if (!command) throw usageError(`unknown command '${name}'`);
    let args = rest;
    if (command.subcommands) {
      const sub = command.subcommands.find((s) => s.name === `${name} ${args[0]}`);
      if (!sub) {
        if (!args[0] || args[0] === '--help' || args[0] === '-h') {
          process.stdout.write(`${helpOf(command)}\n`);
          return args[0] ? 0 : 2;
        }
        throw usageError(`unknown command 'nearby ${name} ${args[0]}'`, command);
      }
      command = sub;
      args = args.slice(1);
    }
    const { values, positionals } = parse(command, args);
    if (values.help) {
      process.stdout.write(`${helpOf(command)}\n`);
      return 0;
    }
    let client: ApiClient | undefined;
    const code = await command.run?.({
      values,
      positionals,
      client: () => {
        client ??= new ApiClient();
        return client;
      },
      out: (text) => process.stdout.write(`${text}\n`),
      signal: controller.signal,
    });
    return code ?? 0;
  } catch (error) {
    if (error instanceof NearbyError || !debug) return reportError(error, debug);
    return reportError(error, true);
  }
}

process.exitCode = await main(process.argv.slice(2));
