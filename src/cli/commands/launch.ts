/**
 * `nearby launch`: create an app and write its nearby.toml (fly.toml format) here, for an image
 * (`--image`) or the Dockerfile in this directory; or adopt the fly.toml / nearby.toml found here.
 * It asks only for what it cannot guess, and nothing with --yes or without a terminal.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { PlatformInfo } from '../../api/routes/platform.ts';
import { parseConfig } from '../../config/mod.ts';
import { isNearbyError } from '../../errors.ts';
import type { ImageConfig } from '../../oci/types.ts';
import type { ApiClient } from '../client.ts';
import { type Command, type Context, configPath, usageError } from '../command.ts';
import { checkRegions } from '../regions.ts';

export const launch: Command = {
  name: 'launch',
  summary: 'create an app and write (or adopt) its nearby.toml',
  help: `Usage: nearby launch [--image IMAGE] [--name APP] [options]

Creates the app on the server, then run \`nearby deploy\`. In a directory with:
  a nearby.toml or fly.toml   adopts it (creates the app it names)
  a Dockerfile                writes nearby.toml to build it (\`nearby deploy\` builds with buildah)
  neither                     give --image: writes nearby.toml to run that image

Options:
  --image IMAGE     image to run, e.g. registry.example.com/hello:1 (no build)
  --name APP        app name (default: the config's, else this directory's name)
  --region REGION   primary region (default: the server's region)
  --port PORT       port the app listens on (default: the image's or Dockerfile's EXPOSE, else 8080)
  --org ORG         organization (default: personal)
  -y, --yes         ask nothing, take the defaults (for scripts)
  --force           replace an existing nearby.toml instead of adopting it`,
  options: {
    image: { type: 'string' },
    name: { type: 'string' },
    region: { type: 'string' },
    port: { type: 'string' },
    org: { type: 'string' },
    yes: { type: 'boolean', short: 'y' },
    force: { type: 'boolean' },
    config: { type: 'string', short: 'c' },
  },
  async run(context) {
    const { values, out } = context;
    const image = values.image as string | undefined;
    const path = configPath(values);
    const api = context.client();
    if (existsSync(path) && !values.force) {
      if (image) {
        throw usageError(
          `${basename(path)} already exists here; run \`nearby deploy --image ${image}\`, or pass --force to replace it`,
          launch,
        );
      }
      return adopt(context, api, path);
    }
    const dockerfile = join(dirname(path), 'Dockerfile');
    if (!image && !existsSync(dockerfile)) {
      throw usageError(
        'nothing to launch here: no Dockerfile, no nearby.toml or fly.toml; pass --image REGISTRY/NAME:TAG',
        launch,
      );
    }
    const name = (values.name as string | undefined) ?? (await ask(context, 'App name', directoryAppName()));
    const platform = await api.request<PlatformInfo>('GET', '/v1/platform');
    const region = (values.region as string | undefined) ?? platform.default_region;
    if (values.region !== undefined) checkRegions(platform, [region]);
    let exposed: number | undefined;
    let digest: string | undefined;
    if (image) {
      const resolved = await api.request<{ config: ImageConfig; ref: { digest: string } }>(
        'GET',
        `/v1/images?ref=${encodeURIComponent(image)}`,
      );
      exposed = exposedPort(resolved.config);
      digest = resolved.ref.digest;
    } else {
      exposed = dockerfileExposedPort(await readFile(dockerfile, 'utf8'));
    }
    const port = values.port
      ? Number(values.port)
      : (exposed ?? Number(await ask(context, 'Port the app listens on', '8080')));
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError('--port: 1–65535', launch);
    const text = configText({ name, region, image, port });
    const parsed = parseConfig(text);
    if (parsed.errors.length)
      throw usageError(`the generated config is invalid: ${parsed.errors[0].message}`, launch);
    await api.request('POST', '/v1/apps', { app_name: name, org_slug: values.org });
    await writeFile(path, text);
    out(`Created app ${name} in organization ${(values.org as string | undefined) ?? 'personal'}`);
    if (image) out(`Image ${image} (${digest?.slice(0, 19)}…) listens on port ${port}`);
    else out(`Dockerfile found: \`nearby deploy\` builds it with buildah; the app listens on port ${port}`);
    out(`Wrote ${basename(path)}; run \`nearby deploy\` to start it.`);
    return 0;
  },
};

/** Uses the config found here: creates the app it names (or --name), writing the name in if it lacks one. */
async function adopt(context: Context, api: ApiClient, path: string): Promise<number> {
  const { values, out } = context;
  let text = await readFile(path, 'utf8');
  const parsed = parseConfig(text);
  if (parsed.errors.length || !parsed.config) {
    throw usageError(
      `${basename(path)} has errors (${parsed.errors[0]?.message ?? 'unreadable'}); see \`nearby config validate\``,
      launch,
    );
  }
  const name =
    (values.name as string | undefined) ??
    parsed.config.app ??
    (await ask(context, 'App name', directoryAppName()));
  if (name !== parsed.config.app) {
    text = /^app\s*=.*$/m.test(text)
      ? text.replace(/^app\s*=.*$/m, `app = ${JSON.stringify(name)}`)
      : `app = ${JSON.stringify(name)}\n${text}`;
    await writeFile(path, text);
    out(`Set app = "${name}" in ${basename(path)}`);
  }
  try {
    await api.request('POST', '/v1/apps', { app_name: name, org_slug: values.org });
    out(`Created app ${name} in organization ${(values.org as string | undefined) ?? 'personal'}`);
  } catch (error) {
    if (!isNearbyError(error) || error.status !== 409) throw error;
    await api.request('GET', `/v1/apps/${encodeURIComponent(name)}`);
    out(`App ${name} exists already; using it`);
  }
  out(`Adopted ${basename(path)}; run \`nearby deploy\` to start it.`);
  return 0;
}

/** Asks on a terminal; with --yes, or without a terminal, takes the default without asking. */
async function ask({ values, out }: Context, question: string, fallback: string): Promise<string> {
  if (values.yes || !process.stdin.isTTY) {
    out(`${question}: ${fallback}`);
    return fallback;
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await prompt.question(`${question} (${fallback}): `)).trim() || fallback;
  } finally {
    prompt.close();
  }
}

function directoryAppName(): string {
  return basename(process.cwd())
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-');
}

function exposedPort(config: ImageConfig): number | undefined {
  const tcp = Object.keys(config.ExposedPorts ?? {}).filter(
    (key) => key.endsWith('/tcp') || !key.includes('/'),
  );
  return tcp.length === 1 ? Number.parseInt(tcp[0], 10) : undefined;
}

/** The first TCP port of the last `EXPOSE` (the final stage's, in a multi-stage Dockerfile). */
function dockerfileExposedPort(dockerfile: string): number | undefined {
  const exposes = [...dockerfile.matchAll(/^\s*EXPOSE\s+(.+)$/gim)];
  const ports = exposes.at(-1)?.[1].split(/\s+/) ?? [];
  const port = ports.find((entry) => /^\d+(\/tcp)?$/i.test(entry));
  return port ? Number.parseInt(port, 10) : undefined;
}

function configText(o: { name: string; region: string; image?: string; port: number }): string {
  const build = o.image
    ? `[build]\n  image = "${o.image}"\n`
    : '[build]\n  dockerfile = "Dockerfile"   # built by `nearby deploy` with buildah\n';
  return `# nearby.toml: this app's configuration (the fly.toml format). See docs/config.md.
app = "${o.name}"
primary_region = "${o.region}"

${build}
[http_service]
  internal_port = ${o.port}
  force_https = false
  auto_stop_machines = "off"
  auto_start_machines = true
  min_machines_running = 0

[[vm]]
  size = "shared-cpu-1x"
  memory = "256mb"
`;
}
