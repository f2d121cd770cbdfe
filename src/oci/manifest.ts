/** OCI and Docker v2 manifest shapes, media types, and choosing the platform manifest from an index. */
import { manifestUnsupported } from './errors.ts';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const MANIFEST_ACCEPT = [
  MEDIA.ociManifest,
  MEDIA.ociIndex,
  MEDIA.dockerManifest,
  MEDIA.dockerList,
].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export type ParsedManifest =
  | { kind: 'manifest'; manifest: ImageManifest }
  | { kind: 'index'; index: ImageIndex };

export function parseManifest(reference: string, mediaType: string, body: Buffer): ParsedManifest {
  let json: {
    schemaVersion?: number;
    mediaType?: string;
    manifests?: unknown;
    layers?: unknown;
    config?: unknown;
  };
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw manifestUnsupported(reference, 'the registry answered with a manifest that is not JSON');
  }
  const type = json.mediaType ?? mediaType;
  if (json.schemaVersion !== 2) {
    throw manifestUnsupported(
      reference,
      `manifest schemaVersion ${json.schemaVersion} (Docker schema 1) is not supported; push it again with a current tool`,
    );
  }
  if (type === MEDIA.ociIndex || type === MEDIA.dockerList || Array.isArray(json.manifests)) {
    return { kind: 'index', index: json as ImageIndex };
  }
  if (Array.isArray(json.layers) && json.config) return { kind: 'manifest', manifest: json as ImageManifest };
  throw manifestUnsupported(reference, `manifest media type "${type}" is not an image manifest or index`);
}

/** The platform this host runs, in OCI terms. */
export function hostPlatform(): { architecture: string; os: string } {
  const architectures: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  return { architecture: architectures[process.arch] ?? process.arch, os: 'linux' };
}

/** Picks the manifest for `platform` from an index; attestation entries (`unknown/unknown`) never match. */
export function selectPlatform(
  reference: string,
  index: ImageIndex,
  platform: { architecture: string; os: string } = hostPlatform(),
): Descriptor {
  const candidates = index.manifests.filter(
    (entry) => entry.platform?.os === platform.os && entry.platform?.architecture === platform.architecture,
  );
  const chosen =
    candidates.find((entry) => !entry.platform?.variant || entry.platform.variant === 'v1') ?? candidates[0];
  if (!chosen) {
    const offered = index.manifests
      .map((entry) => `${entry.platform?.os}/${entry.platform?.architecture}`)
      .join(', ');
    throw manifestUnsupported(
      reference,
      `the image has no ${platform.os}/${platform.architecture} variant (it offers: ${offered || 'nothing'})`,
    );
  }
  return chosen;
}
