/** Checks regions the user names (`--region`, `primary_region`) before anything is built or created. */
import type { PlatformInfo } from '../api/routes/platform.ts';
import { NearbyError } from '../errors.ts';

/**
 * Refuses regions where no host is up: the API would refuse every machine there, and failing
 * first saves a build, or a spread left half done.
 * @throws NearbyError NO_HOST naming the regions that have hosts up
 */
export function checkRegions(platform: PlatformInfo, regions: string[], what = '--region'): void {
  const missing = regions.filter((region) => !platform.regions.includes(region));
  if (missing.length === 0) return;
  const named = missing.map((region) => `'${region}'`).join(', ');
  throw new NearbyError(
    'NO_HOST',
    `${what}: no host is up in region${missing.length === 1 ? '' : 's'} ${named}; regions with hosts up: ${platform.regions.join(', ') || 'none'}`,
    {
      hint: 'see them with `nearby platform regions`, or start a host there: `nearby agent --region REGION`',
    },
  );
}
