/**
 * How the API reads request bodies. It speaks JSON, and an empty body is no body whatever its
 * Content-Type: clients written from the Machines API docs (Go's and Python's among them) send
 * `Content-Type: application/json` on every request, also on `POST …/start` or `DELETE …/lease`
 * where they send nothing. A body that is not JSON is refused with nearby's own error.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiErrors } from './errors.ts';

type Done = (error: Error | null, body?: unknown) => void;

export function readBodies(api: FastifyInstance): void {
  // The framework's parser does the parsing (it refuses `__proto__` keys); it only errs on "empty".
  const parseJson = api.getDefaultJsonParser('error', 'error');
  api.removeContentTypeParser(['application/json', 'text/plain']);
  api.addContentTypeParser('application/json', { parseAs: 'string' }, (request, text, done: Done) => {
    const body = String(text);
    if (body.trim() === '') return done(null, undefined);
    parseJson(request, body, (error: Error | null, value?: unknown) =>
      error ? done(jsonError(body)) : done(null, value),
    );
  });
  // Any other type: nothing to read is no body; something to read is refused without reading it.
  api.addContentTypeParser('*', (request: FastifyRequest, _payload, done: Done) => {
    const length = request.headers['content-length'];
    const empty =
      length === '0' || (length === undefined && request.headers['transfer-encoding'] === undefined);
    if (empty) return done(null, undefined);
    done(apiErrors.unsupportedMediaType(request.headers['content-type']?.split(';')[0].trim()));
  });
}

/** Says where the JSON breaks, or why it parses and is still refused. */
function jsonError(body: string): Error {
  try {
    JSON.parse(body);
  } catch (error) {
    return apiErrors.invalidJson((error as SyntaxError).message);
  }
  return apiErrors.invalidJson('it must not set "__proto__" or "constructor.prototype"');
}
