/**
 * Checks on JSON log lines. `JSON.parse` keeps the last of two equal keys without a word, so a
 * line such as `{"part":"proxy","part":"proxy"}` is only seen by reading its text.
 */

/** The keys that occur more than once in one object of `line` (at any depth). */
export function repeatedKeys(line: string): string[] {
  const repeated = new Set<string>();
  const objects: Set<string>[] = [];
  // Each entry says whether the container at that depth is an object (where strings may be keys).
  const containers: boolean[] = [];
  let expectKey = false;
  for (let at = 0; at < line.length; at++) {
    const char = line[at];
    if (char === '"') {
      let end = at + 1;
      while (line[end] !== '"') end += line[end] === '\\' ? 2 : 1;
      if (expectKey && containers.at(-1)) {
        const key = JSON.parse(line.slice(at, end + 1)) as string;
        const keys = objects.at(-1) as Set<string>;
        if (keys.has(key)) repeated.add(key);
        keys.add(key);
      }
      expectKey = false;
      at = end;
    } else if (char === '{') {
      containers.push(true);
      objects.push(new Set());
      expectKey = true;
    } else if (char === '[') {
      containers.push(false);
    } else if (char === '}') {
      containers.pop();
      objects.pop();
    } else if (char === ']') {
      containers.pop();
    } else if (char === ',') {
      expectKey = containers.at(-1) === true;
    }
  }
  return [...repeated];
}
