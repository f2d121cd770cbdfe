/** `GET /v1/platform`: what a client needs to know about this nearby (regions, where apps answer). */
import type { FastifyInstance } from 'fastify';
import type { ControlPlane } from '../machines.ts';
import { liveRegions } from '../scheduler.ts';

export interface PlatformInfo {
  default_region: string;
  regions: string[];
  apps_domain: string;
  /** URL of an app, with `{app}` in place of its name. */
  app_url_template: string;
}

export function platformRoutes(
  api: FastifyInstance,
  cp: ControlPlane,
  info: { appsDomain: string; appUrlTemplate: string },
): void {
  api.get(
    '/v1/platform',
    async (): Promise<PlatformInfo> => ({
      default_region: cp.defaultRegion,
      regions: await liveRegions(cp.store),
      apps_domain: info.appsDomain,
      app_url_template: info.appUrlTemplate,
    }),
  );
}
