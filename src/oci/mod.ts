/** The image part's public face: the ImageStore, reference parsing, the registry client, the image writer. */
export type { Credentials, CredentialsLookup } from './auth.ts';
export { BlobCache } from './blob-cache.ts';
export type { BuiltImage, BuiltIndex, BuiltLayer, Compression, LayerSpec } from './build.ts';
export { buildImage, buildIndex, buildLayer, opaque, whiteout } from './build.ts';
export type { ImageLog, ImageStoreOptions, PullOptions } from './image-store.ts';
export { ImageStore } from './image-store.ts';
export type { PullTotals, Throttled } from './pull-progress.ts';
export { PullTally, throttle } from './pull-progress.ts';
export { pushBlob, pushImage, pushIndex } from './push.ts';
export type { ParsedReference } from './reference.ts';
export { formatReference, isLoopbackRegistry, parseReference } from './reference.ts';
export { RegistryClient } from './registry-client.ts';
export type { ImageConfig, ImageService, PulledImage, PullProgress, ResolvedImage } from './types.ts';
export { unpackImage } from './unpack.ts';
export { unpackInWorker } from './unpack-worker.ts';
