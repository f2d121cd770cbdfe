/** `GET /v1/images?ref=`: resolve an image reference to its digest and config (used by `launch`). */
import type { FastifyInstance } from 'fastify';
import { apiErrors } from '../errors.ts';
import type { ControlPlane } from '../machines.ts';

export function imageRoutes(api: FastifyInstance, cp: ControlPlane): void {
  api.get<{ Querystring: { ref?: string } }>('/v1/images', async (request) => {
    if (!request.query.ref)
      throw apiErrors.badRequest('ref: give an image reference, e.g. ?ref=registry/app:tag');
    return cp.images.resolve(request.query.ref);
  });
}
