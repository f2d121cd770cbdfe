/** The image contract the agent and the control plane use: resolve a reference, pull an image. */
import type { ImageRef } from '../model/machine.ts';
import type { PullTotals } from './pull-progress.ts';

/** The `config` object of an OCI image configuration. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
}

export interface ResolvedImage {
  /** Registry, repository, tag and the manifest digest the tag points at now. */
  ref: ImageRef;
  config: ImageConfig;
  /** Total compressed size of the layers, in bytes. */
  size: number;
}

export interface PulledImage extends ResolvedImage {
  /** Unpacked root filesystem: shared, read-only by convention. */
  rootfs: string;
}

export interface PullProgress {
  layer: string;
  bytes: number;
  total: number;
}

export interface ImageService {
  /** Resolves a reference (`host:5000/app:tag`, `app@sha256:…`) to a digest and config, without layers. */
  resolve(reference: string, options?: { signal?: AbortSignal }): Promise<ResolvedImage>;
  /** Pulls (missing blobs only) and unpacks; a digest in `reference` pins the manifest. */
  pull(
    reference: string,
    options?: {
      signal?: AbortSignal;
      onProgress?: (progress: PullProgress) => void;
      /** The whole image's bytes and layers so far; cached layers count as done. */
      onTotals?: (totals: PullTotals) => void;
    },
  ): Promise<PulledImage>;
}
