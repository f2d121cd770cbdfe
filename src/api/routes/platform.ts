/**
 * `GET /v1/platform`: what a client needs to know about this nearby (regions, where apps answer).
 * `GET /v1/platform/hosts|regions`: the operator's inventory (admin token only).
 * `GET /v1/platform/links`: the round-trip times the edge proxies measured to each other (admin token).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keys, type ProxyRecord } from '../../model/mod.ts';
import { values } from '../../store/mod.ts';
import { apiErrors } from '../errors.ts';
import type { ControlPlane } from '../machines.ts';
import { type HostView, type RegionView, readInventory } from '../platform-inventory.ts';
import { liveRegions } from '../scheduler.ts';

/** One proxy's measured round trip to another, as it last published it (`proxies/<host>`). */
export interface LinkView {
  from_host: string;
  from_region: string;
  to_host: string;
  to_region: string;
  rtt_ms: number;
}

export interface PlatformInfo {
  default_region: string;
  regions: string[];
  apps_domain: string;
  /** URL of an app, with `{app}` in place of its name. */
  app_url_template: string;
}

// Hosts, their addresses and every tenant's machine counts are the operator's business only.
function adminOnly(request: FastifyRequest): void {
  if (request.token.kind !== 'admin') {
    throw apiErrors.forbidden("only the admin token may list the platform's hosts and regions");
  }
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

  api.get(
    '/v1/platform/hosts',
    {
      schema: {
        summary: 'List hosts: region, address, capacity and what is used, machines, health (admin token)',
        returns: 'PlatformHosts',
      },
    },
    async (request): Promise<{ hosts: HostView[] }> => {
      adminOnly(request);
      return { hosts: (await readInventory(cp.store)).hosts };
    },
  );

  api.get(
    '/v1/platform/regions',
    {
      schema: {
        summary: 'List regions: hosts, capacity and what is used, machines (admin token)',
        returns: 'PlatformRegions',
      },
    },
    async (request): Promise<{ regions: RegionView[] }> => {
      adminOnly(request);
      return { regions: (await readInventory(cp.store)).regions };
    },
  );

  api.get(
    '/v1/platform/links',
    {
      schema: { summary: 'List the round-trip times the edge proxies measured to each other (admin token)' },
    },
    async (request): Promise<{ links: LinkView[] }> => {
      adminOnly(request);
      const proxies = await values<ProxyRecord>(cp.store, keys.proxies());
      const regionOf = new Map(proxies.map((p) => [p.host, p.region]));
      const links = proxies.flatMap((from) =>
        Object.entries(from.rtt_ms).map(([to, rtt]) => ({
          from_host: from.host,
          from_region: from.region,
          to_host: to,
          to_region: regionOf.get(to) ?? '?',
          rtt_ms: rtt,
        })),
      );
      return { links };
    },
  );
}
