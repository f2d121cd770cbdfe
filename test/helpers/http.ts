/** A request through the edge proxy, as a user's client sends it: a fresh connection, a 30 s cap (never a hang). */
import http from 'node:http';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET `path` of `app` (`Host: <app>.localhost`) through the proxy listening on `port`. */
export function getApp(port: number, app: string, path = '/'): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path, headers: { host: `${app}.localhost` }, agent: false },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    request.setTimeout(30_000, () => request.destroy(new Error(`no answer from ${app}${path} within 30 s`)));
    request.on('error', reject);
  });
}
