/**
 * Finds the line of a key path in TOML text, so issues can point at it. smol-toml gives no
 * positions, so this follows table headers and `key =` lines (arrays of tables get indices);
 * good enough for hints, never used to read values.
 */

export class LineIndex {
  private readonly lines = new Map<string, number>();

  constructor(text: string) {
    const arrayCounts = new Map<string, number>();
    let table = '';
    let depth = 0;
    const rows = text.split(/\r?\n/);
    rows.forEach((raw, index) => {
      const line = index + 1;
      const row = stripComment(raw).trim();
      if (depth > 0) {
        depth += bracketBalance(row);
        return;
      }
      const header = /^\[(\[)?\s*([^\]]+?)\s*\](\])?$/.exec(row);
      if (header) {
        const parts = splitKey(header[2]);
        table = resolve(parts, header[1] === '[', arrayCounts);
        this.remember(table, line);
        return;
      }
      const assignment =
        /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$/.exec(
          row,
        );
      if (!assignment) return;
      this.remember(splitKey(assignment[1]).reduce(joinKey, table), line);
      depth = Math.max(0, bracketBalance(assignment[2]));
    });
  }

  private remember(path: string, line: number): void {
    if (!this.lines.has(path)) this.lines.set(path, line);
  }

  /** The line of `path`, or of its nearest enclosing table that has one. */
  lineOf(path: string): number | undefined {
    for (let current = path; current !== ''; current = parentPath(current)) {
      const line = this.lines.get(current) ?? this.lines.get(`${current}[0]`);
      if (line !== undefined) return line;
    }
    return undefined;
  }
}

/** Appends a key to a path, quoting keys that are not bare TOML keys (`checks."my check"`). */
export function joinKey(path: string, key: string): string {
  const plain = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? plain : `${path}.${plain}`;
}

export function parentPath(path: string): string {
  const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
  return cut <= 0 ? '' : path.slice(0, cut);
}

function resolve(parts: string[], isArray: boolean, arrayCounts: Map<string, number>): string {
  let path = '';
  parts.forEach((part, index) => {
    path = joinKey(path, part);
    const last = index === parts.length - 1;
    if (last && isArray) {
      const next = (arrayCounts.get(path) ?? 0) + 1;
      arrayCounts.set(path, next);
      path = `${path}[${next - 1}]`;
    } else if (arrayCounts.has(path)) {
      path = `${path}[${(arrayCounts.get(path) ?? 1) - 1}]`;
    }
  });
  return path;
}

function splitKey(key: string): string[] {
  const parts: string[] = [];
  const pattern = /\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/gy;
  for (let match = pattern.exec(key); match !== null && match[0] !== ''; match = pattern.exec(key)) {
    parts.push(match[1] ?? match[2] ?? match[3]);
  }
  return parts;
}

function stripComment(row: string): string {
  let quote = '';
  for (let index = 0; index < row.length; index++) {
    const char = row[index];
    if (quote !== '') {
      if (char === '\\' && quote === '"') index++;
      else if (char === quote) quote = '';
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '#') return row.slice(0, index);
  }
  return row;
}

function bracketBalance(text: string): number {
  let balance = 0;
  let quote = '';
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quote !== '') {
      if (char === '\\' && quote === '"') index++;
      else if (char === quote) quote = '';
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '[' || char === '{') balance++;
    else if (char === ']' || char === '}') balance--;
  }
  return balance;
}
