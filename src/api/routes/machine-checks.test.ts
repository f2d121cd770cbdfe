import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { namedChecks, runChecks } from './machine-checks.ts';

test('checks get Fly names; service checks default to the service port', () => {
  const names = namedChecks({
    image: 'x',
    services: [
      {
        protocol: 'tcp',
        internal_port: 8080,
        checks: [
          { type: 'http', path: '/' },
          { type: 'tcp', port: 9000 },
        ],
      },
    ],
    checks: { db: { type: 'tcp', port: 5432 } },
  });
  assert.deepEqual(
    names.map(([name, check]) => [name, check.port]),
    [
      ['servicecheck-00-http-8080', 8080],
      ['servicecheck-01-tcp-9000', 9000],
      ['db', 5432],
    ],
  );
});

test('runChecks against a real server: 2xx passes, 5xx and a closed port are critical with the reason', async (t) => {
  const server = createServer((request, response) => {
    response.statusCode = request.url === '/healthy' ? 200 : 500;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));

  const results = await runChecks(
    {
      image: 'x',
      services: [
        {
          protocol: 'tcp',
          internal_port: port,
          checks: [{ type: 'http', path: '/healthy' }, { type: 'http', path: '/broken' }, { type: 'tcp' }],
        },
      ],
      checks: { gone: { type: 'tcp', port: closedPort } },
    },
    '127.0.0.1',
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ['passing', 'critical', 'passing', 'critical'],
  );
  assert.match(results[1].output, /GET \/broken answered 500/);
  assert.match(results[3].output, new RegExp(`port ${closedPort}: .*ECONNREFUSED`));
});
