/** `GET /v1/images?ref=`: resolve an image reference to its digest and config (used by `launch`). */
import type { FastifyInstance } from 'fastify';
import type { ControlPlane } from '../machines.ts';

export function imageRoutes(api: FastifyInstance, cp: ControlPlane): void {
  api.get<{ Querystring: { ref: string } }>(
    '/v1/images',
    {
      schema: {
        summary: 'Resolve an image reference to its digest and config',
        querystring: {
          type: 'object',
          required: ['ref'],
          properties: {
            ref: { type: 'string', minLength: 1, description: 'an image reference, e.g. registry/app:tag' },
          },
        },
      },
    },
    async (request) => cp.images.resolve(request.query.ref),
  );
}
