/**
 * The short pages the proxy answers with when it cannot hand a request to a machine. They are
 * HAProxy log-format templates: `%[var(txn.app)]` is filled in per request by HAProxy itself.
 */

export interface ErrorPage {
  file: string;
  status: number;
  contentType: string;
  body: string;
}

/** The app name as HAProxy fills it in; only names that passed a strict ACL reach a page. */
const APP = '%[var(txn.app)]';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The org and cap of an app suspended at its spending cap (haproxy-config.ts sets them). */
const ORG = '%[var(txn.nb_org)]';
const CAP = '%[var(txn.nb_cap)]';

/** `%` starts a log-format expression; a literal one must be doubled. */
function escapeLogFormat(text: string): string {
  return text.replace(/%(?!\[var\(txn\.(app|nb_org|nb_cap)\)\])/g, '%%');
}

function html(title: string, lines: string[]): string {
  const body = lines.map((line) => `<p>${line}</p>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}
code{background:#f2f2f2;padding:0 .2em}</style></head>
<body><h1>${title}</h1>
${body}
<p><small>nearby edge proxy</small></p>
</body></html>
`;
}

function text(title: string, lines: string[]): string {
  return `${title}\n\n${lines.join('\n')}\n`;
}

interface PageText {
  name: string;
  status: number;
  title: string;
  lines: string[];
}

/** Every page, each as HTML and as plain text, for an apps domain such as `localhost`. */
export function renderErrorPages(appsDomain: string): ErrorPage[] {
  const where = `<app>.${appsDomain}`;
  const texts: PageText[] = [
    {
      name: 'no-app',
      status: 404,
      title: '404 no such app',
      lines: [`no app named '${APP}' here; apps answer at ${where}`],
    },
    {
      name: 'no-host',
      status: 404,
      title: '404 no such app',
      lines: [`no app answers at this host name; apps answer at ${where}`],
    },
    {
      name: 'no-machine',
      status: 503,
      title: '503 no machine',
      lines: [`app '${APP}' has no started machine that can answer; see \`nearby status -a ${APP}\``],
    },
    {
      name: 'unavailable',
      status: 503,
      title: '503 unavailable',
      lines: [
        `app '${APP}' could not be reached: its machines refused the connection or are all at their hard_limit; see \`nearby status -a ${APP}\``,
      ],
    },
    {
      name: 'bad-gateway',
      status: 502,
      title: '502 bad gateway',
      lines: [
        `the machine answering for app '${APP}' failed mid-request (closed the connection or sent an invalid response); see \`nearby logs -a ${APP}\``,
      ],
    },
    {
      name: 'suspended',
      status: 402,
      title: '402 payment required',
      lines: [
        `app '${APP}' is suspended: org ${ORG} reached its monthly spending cap of $${CAP}`,
        `an admin of org ${ORG} can raise the cap (\`nearby billing budget set AMOUNT --org ${ORG}\`) or clear it (\`nearby billing budget clear --org ${ORG}\`): the app comes back within a minute; otherwise at the start of next month`,
        'nothing is lost meanwhile: machines, volumes, config and releases are kept',
      ],
    },
    {
      name: 'gateway-timeout',
      status: 504,
      title: '504 gateway timeout',
      lines: [`the machine answering for app '${APP}' did not answer in time; see \`nearby logs -a ${APP}\``],
    },
  ];
  return texts.flatMap((page) => [
    {
      file: `${page.name}.html`,
      status: page.status,
      contentType: 'text/html; charset=utf-8',
      body: escapeLogFormat(
        html(
          escapeHtml(page.title),
          page.lines.map((line) => escapeHtml(line).replace(/`([^`]*)`/g, '<code>$1</code>')),
        ),
      ),
    },
    {
      file: `${page.name}.txt`,
      status: page.status,
      contentType: 'text/plain; charset=utf-8',
      body: escapeLogFormat(text(page.title, page.lines)),
    },
  ]);
}
