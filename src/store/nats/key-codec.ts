/**
 * Store keys and stream subjects as NATS subjects, token by token (DESIGN.md §2): a key's `/`
 * separates tokens (`machines/app/id` → `machines.app.id`), a subject's `.` does. Characters
 * outside `[-_A-Za-z0-9]` become `=XX` (each UTF-8 byte in hex), so any key round-trips and none
 * can smuggle a wildcard (`*`, `>`) or an extra token (`.`) into a subject; an empty token is `=`.
 */

const plain = /[-_A-Za-z0-9]/;

/** Encodes one token. */
export function encodeToken(token: string): string {
  if (token === '') return '=';
  let encoded = '';
  for (const char of token) {
    if (plain.test(char)) {
      encoded += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8'))
      encoded += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** Decodes one token made by `encodeToken`. */
export function decodeToken(token: string): string {
  if (token === '=') return '';
  if (!token.includes('=')) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    if (token[i] === '=') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(token.charCodeAt(i));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `machines/app/id` → `machines.app.id` (a KV key). */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeToken).join('.');
}

export function decodeKey(encoded: string): string {
  return encoded.split('.').map(decodeToken).join('/');
}

/** `logs.app.fra.id` → the same subject with each token encoded. */
export function encodeSubject(subject: string): string {
  return subject.split('.').map(encodeToken).join('.');
}

export function decodeSubject(encoded: string): string {
  return encoded.split('.').map(decodeToken).join('.');
}

/**
 * A string prefix as a NATS filter plus the check that finishes the job: NATS filters whole tokens,
 * so `apps/` is `apps.>` exactly, while `apps/we` (a partial token) filters `apps.>` and keeps the
 * keys that start with `apps/we`. `match` is given the decoded key or subject.
 */
export function prefixFilter(
  prefix: string,
  separator: '/' | '.',
): { filter: string; match: (decoded: string) => boolean } {
  const tokens = prefix.split(separator);
  const partial = tokens.pop() ?? '';
  const whole = tokens.map(encodeToken);
  const filter = [...whole, '>'].join('.');
  return { filter, match: partial === '' ? () => true : (decoded) => decoded.startsWith(prefix) };
}
