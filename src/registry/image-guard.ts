/**
 * The control plane pulls from nearby's registry with its internal credential, so it checks first
 * that the caller may pull the image it names: a token for app A cannot run, resolve or release
 * app B's image by naming it in a machine config (`config.image`), a release (`image`) or
 * `/v1/images?ref=`. Images of other registries are not its business.
 */
import type { FastifyRequest } from 'fastify';
import { apiErrors } from '../api/errors.ts';
import { parseReference } from '../oci/mod.ts';
import type { Store } from '../store/mod.ts';
import { grantAccess } from './access.ts';

interface ImageFields {
  image?: unknown;
  config?: { image?: unknown };
}

export function imageGuard(store: Store, registryHost: string) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!request.token) return;
    const body = (request.body ?? {}) as ImageFields;
    const query = (request.query ?? {}) as { ref?: unknown };
    const named = [
      body.image,
      body.config?.image,
      request.routeOptions.url === '/v1/images' ? query.ref : undefined,
    ];
    for (const image of named) {
      if (typeof image !== 'string') continue;
      let repository: string;
      try {
        const ref = parseReference(image);
        if (ref.registry !== registryHost) continue;
        repository = ref.repository;
      } catch {
        continue; // an invalid reference is reported by the route, with its own message
      }
      const granted = await grantAccess(store, { kind: 'token', token: request.token }, [
        `repository:${repository}:pull`,
      ]);
      if (!granted.length) {
        throw apiErrors.forbidden(
          `image ${image} is in app ${repository.split('/')[0]}'s repository, which this token may not pull`,
        );
      }
    }
  };
}
