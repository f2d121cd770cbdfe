/** `nearby launch`: create an app and write its nearby.toml (fly.toml format) here. */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { PlatformInfo } from '../../api/routes/platform.ts';
import { parseConfig } from '../../config/mod.ts';
import type { ImageConfig } from '../../oci/types.ts';
import { type Command, configPath, usageError } from '../command.ts';

export const launch: Command = {
  name: 'launch',
  summary: 'create an app and write its nearby.toml',
  help: `Usage: nearby launch --image IMAGE [--name APP] [options]

Creates the app on the server and writes nearby.toml (the fly.toml format) in this directory.
Then run \`nearby deploy\`.

Options:
  --image IMAGE     image to run, e.g. registry.example.com/hello:1
  --name APP        app name (default: this directory's name)
  --region REGION   primary region (default: the server's region)
  --port PORT       port the app listens on (default: the image's exposed port, else 8080)
  --org ORG         organization (default: personal)
  --force           replace an existing nearby.toml`,
  options: {
    image: { type: 'string' },
    name: { type: 'string' },
    region: { type: 'string' },
    port: { type: 'string' },
    org: { type: 'string' },
    force: { type: 'boolean' },
    config: { type: 'string', short: 'c' },
  },
  async run({ client, out, values }) {
    const image = values.image as string | undefined;
    if (!image) {
      throw usageError(
        'give the image to run: nearby launch --image REGISTRY/NAME:TAG (building from a Dockerfile comes later)',
        launch,
      );
    }
    const path = configPath(values);
    if (existsSync(path) && !values.force) {
      throw usageError(
        `${basename(path)} already exists here; run \`nearby deploy\`, or pass --force to replace it`,
        launch,
      );
    }
    const name =
      (values.name as string | undefined) ??
      basename(process.cwd())
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-');
    const api = client();
    const platform = await api.request<PlatformInfo>('GET', '/v1/platform');
    const region = (values.region as string | undefined) ?? platform.default_region;
    const resolved = await api.request<{ config: ImageConfig; ref: { digest: string } }>(
      'GET',
      `/v1/images?ref=${encodeURIComponent(image)}`,
    );
    const port = values.port ? Number(values.port) : (exposedPort(resolved.config) ?? 8080);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError('--port: 1–65535', launch);
    const text = configText({ name, region, image, port });
    const parsed = parseConfig(text);
    if (parsed.errors.length)
      throw usageError(`the generated config is invalid: ${parsed.errors[0].message}`, launch);
    await api.request('POST', '/v1/apps', { app_name: name, org_slug: values.org });
    await writeFile(path, text);
    out(`Created app ${name} in organization ${(values.org as string | undefined) ?? 'personal'}`);
    out(`Image ${image} (${resolved.ref.digest.slice(0, 19)}…) listens on port ${port}`);
    out(`Wrote ${basename(path)}; run \`nearby deploy\` to start it.`);
    return 0;
  },
};

function exposedPort(config: ImageConfig): number | undefined {
  const tcp = Object.keys(config.ExposedPorts ?? {}).filter(
    (key) => key.endsWith('/tcp') || !key.includes('/'),
  );
  return tcp.length === 1 ? Number.parseInt(tcp[0], 10) : undefined;
}

function configText(o: { name: string; region: string; image: string; port: number }): string {
  return `# nearby.toml: this app's configuration (the fly.toml format). See docs/config.md.
app = "${o.name}"
primary_region = "${o.region}"

[build]
  image = "${o.image}"

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
