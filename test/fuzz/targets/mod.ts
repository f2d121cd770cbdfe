/** Every fuzz target, by name: what `npm run fuzz -- --target <name>` picks from. */
import type { FuzzTarget } from '../runner.ts';
import { apiBodiesTarget } from './api-bodies.ts';
import { configTarget } from './config.ts';
import { dnsResolverTarget } from './dns-resolver.ts';
import { flyReplayTarget } from './fly-replay.ts';
import { ociUnpackTarget } from './oci-unpack.ts';

export const fuzzTargets: readonly FuzzTarget[] = [
  ociUnpackTarget,
  configTarget,
  apiBodiesTarget,
  dnsResolverTarget,
  flyReplayTarget,
];
