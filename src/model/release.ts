/**
 * Releases (`releases/<app>/<version>`): one per deploy — the image, the machine config of each
 * process group, the strategy, and how it ended. Written by the API only; the CLI drives the status.
 */
import type { AutoscaleConfig } from './autoscale.ts';
import type { ImageRef, MachineConfig } from './machine.ts';

export const DEPLOY_STRATEGIES = ['rolling', 'immediate', 'canary', 'bluegreen'] as const;
export type DeployStrategy = (typeof DEPLOY_STRATEGIES)[number];

/**
 * pending: recorded, release_command not done yet; running: machines are being changed;
 * complete: every machine runs it; failed: stopped without rollback (or nothing to roll back);
 * rolled_back: the machines went back to the previous release; interrupted: Ctrl-C, rolled back.
 */
export const RELEASE_STATUSES = [
  'pending',
  'running',
  'complete',
  'failed',
  'rolled_back',
  'interrupted',
] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

export interface ReleaseRecord {
  app: string;
  version: number;
  /** The reference as given (`registry/name:tag`). */
  image: string;
  /** What the tag pointed at when the release was made: every machine of it runs these bytes. */
  image_ref: ImageRef;
  strategy: DeployStrategy;
  /** The machine config of each process group. */
  configs: Record<string, MachineConfig>;
  /** `[autoscale]` of the config deployed: the autoscaler follows the newest release's. */
  autoscale?: AutoscaleConfig;
  status: ReleaseStatus;
  /** Why it failed or was rolled back. */
  reason?: string;
  /** The token that made it (`admin`, `deploy token for hello`, …). */
  user: string;
  created_at: string;
  updated_at: string;
}

/** A release in one of these statuses is over: its status no longer changes. */
export function isReleaseFinished(status: ReleaseStatus): boolean {
  return status !== 'pending' && status !== 'running';
}

/** `registry/repository:tag@digest`: readable, and the digest keeps it from moving. */
export function pinnedImage(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}@${ref.digest}`;
}
