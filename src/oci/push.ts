/** Uploads a built image (or index) to an OCI registry: blobs (monolithic POST + PUT), then the manifest. */
import type { CredentialsLookup } from './auth.ts';
import type { BuiltImage, BuiltIndex } from './build.ts';
import { registryError } from './errors.ts';
import { RegistryClient } from './registry-client.ts';

export interface PushOptions {
  credentials?: CredentialsLookup;
  insecureRegistries?: string[];
  client?: RegistryClient;
  signal?: AbortSignal;
}

/** Pushes `image` as `registry/repository:tag`; returns the manifest digest. */
export async function pushImage(
  registry: string,
  repository: string,
  tag: string,
  image: BuiltImage,
  options: PushOptions = {},
): Promise<string> {
  const client = options.client ?? new RegistryClient(options);
  await pushImageContent(client, registry, repository, image, options.signal);
  await putManifest(client, registry, repository, tag, image.mediaType, image.manifest, options.signal);
  return image.manifestDigest;
}

/** Pushes every image of `index` by digest, then the index as `tag`; returns the index digest. */
export async function pushIndex(
  registry: string,
  repository: string,
  tag: string,
  index: BuiltIndex,
  options: PushOptions = {},
): Promise<string> {
  const client = options.client ?? new RegistryClient(options);
  for (const image of index.images) {
    await pushImageContent(client, registry, repository, image, options.signal);
    await putManifest(
      client,
      registry,
      repository,
      image.manifestDigest,
      image.mediaType,
      image.manifest,
      options.signal,
    );
  }
  await putManifest(client, registry, repository, tag, index.mediaType, index.manifest, options.signal);
  return index.manifestDigest;
}

async function pushImageContent(
  client: RegistryClient,
  registry: string,
  repository: string,
  image: BuiltImage,
  signal?: AbortSignal,
): Promise<void> {
  for (const layer of image.layers)
    await pushBlob(client, registry, repository, layer.digest, layer.data, signal);
  await pushBlob(client, registry, repository, image.configDigest, image.config, signal);
}

/** Uploads a blob unless the registry has it already. */
export async function pushBlob(
  client: RegistryClient,
  registry: string,
  repository: string,
  digest: string,
  data: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const actions = 'pull,push';
  const head = await client.request(registry, repository, {
    method: 'HEAD',
    path: `/v2/${repository}/blobs/${digest}`,
    actions,
    signal,
  });
  await head.body?.cancel();
  if (head.ok) return;
  const start = await client.request(registry, repository, {
    method: 'POST',
    path: `/v2/${repository}/blobs/uploads/`,
    actions,
    signal,
  });
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) {
    throw registryError(registry, `POST upload for ${repository}`, start.status, 'no upload location');
  }
  const base = await client.baseUrl(registry, signal);
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  const put = await client.request(registry, repository, {
    method: 'PUT',
    path: url.toString(),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
    actions,
    signal,
  });
  const text = await put.text();
  if (put.status !== 201) throw registryError(registry, `PUT blob ${repository}@${digest}`, put.status, text);
}

async function putManifest(
  client: RegistryClient,
  registry: string,
  repository: string,
  reference: string,
  mediaType: string,
  body: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const response = await client.request(registry, repository, {
    method: 'PUT',
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { 'content-type': mediaType },
    body,
    actions: 'pull,push',
    signal,
  });
  const text = await response.text();
  if (response.status !== 201) {
    throw registryError(registry, `PUT manifest ${repository}:${reference}`, response.status, text);
  }
}
