import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LogLine } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { LogShipper } from './log-shipper.ts';

test('ships CRI lines in one batch, joins partial lines, and resumes where it stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-log-shipper-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(join(dir, 'store.db'));
  t.after(() => store.close());
  const logPath = join(dir, 'machine.log');
  const offsetPath = join(dir, 'machine.offset');
  const labels = { machine: 'm1', region: 'fra' };
  const subject = 'logs.app.fra.m1';
  const messages = async () => {
    const found: string[] = [];
    for await (const m of store.read<LogLine>('logs.app.', { afterSeq: 0 })) found.push(m.data.message);
    return found;
  };

  const lines = Array.from({ length: 500 }, (_, i) => `2026-11-23T12:00:00Z stdout F line ${i}\n`);
  appendFileSync(logPath, lines.join(''));
  appendFileSync(logPath, '2026-11-23T12:00:01Z stderr P half \n2026-11-23T12:00:01Z stderr F and half\n');
  appendFileSync(logPath, '2026-11-23T12:00:02Z stdout F not yet ended');
  const shipper = new LogShipper(store, subject, logPath, offsetPath, labels);
  await shipper.flush();
  const first = await messages();
  assert.equal(first.length, 501);
  assert.equal(first[0], 'line 0');
  assert.equal(first.at(-1), 'half and half');

  // A new shipper (nearby restarted) neither repeats nor loses a line.
  appendFileSync(logPath, '\n');
  const again = new LogShipper(store, subject, logPath, offsetPath, labels);
  await again.flush();
  assert.deepEqual((await messages()).slice(500), ['half and half', 'not yet ended']);
});
