/** Layer count and bytes of a pushed image, read back from the registry's manifest. */
import type { RegistryClient } from '../oci/mod.ts';

export async function pushedSize(
  client: RegistryClient,
  registry: string,
  repository: string,
  digest: string,
  signal?: AbortSignal,
): Promise<{ layers: number; bytes: number }> {
  const manifest = await client.getManifest(
    registry,
    repository,
    digest,
    `${registry}/${repository}@${digest}`,
    signal,
  );
  const parsed = JSON.parse(manifest.body.toString('utf8')) as {
    config?: { size?: number };
    layers?: { size?: number }[];
  };
  const layers = parsed.layers ?? [];
  const bytes = layers.reduce((sum, layer) => sum + (layer.size ?? 0), parsed.config?.size ?? 0);
  return { layers: layers.length, bytes };
}
