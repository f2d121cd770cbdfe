import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDurationString } from '../model/duration.ts';
import { splitShellWords } from './shell-words.ts';
import { parseSizeGb, parseSizeMb, VM_PRESETS } from './sizes.ts';
import { suggest } from './suggest.ts';

test('durations parse Go-style strings into milliseconds and print back the same way', () => {
  assert.equal(parseDurationString('5s'), 5000);
  assert.equal(parseDurationString('1m0s'), 60_000);
  assert.equal(parseDurationString('1m21s'), 81_000);
  assert.equal(parseDurationString('2m0s'), 120_000);
  assert.equal(parseDurationString('300ms'), 300);
  assert.equal(parseDurationString('1.5s'), 1500);
  assert.equal(parseDurationString('1h'), 3_600_000);
  assert.equal(parseDurationString('40'), undefined);
  assert.equal(parseDurationString('5 seconds'), undefined);
  assert.equal(parseDurationString(''), undefined);
  for (const ms of [0, 300, 1000, 5000, 60_000, 81_000, 1500, 3_600_000, 3_661_500]) {
    assert.equal(parseDurationString(formatDuration(ms)), ms, formatDuration(ms));
  }
  assert.equal(formatDuration(120_000), '2m0s');
});

test('memory sizes are MiB (1gb = 1024), volume sizes whole GB', () => {
  assert.equal(parseSizeMb('512mb'), 512);
  assert.equal(parseSizeMb('1gb'), 1024);
  assert.equal(parseSizeMb('1g'), 1024);
  assert.equal(parseSizeMb('4GB'), 4096);
  assert.equal(parseSizeMb(512), 512);
  assert.equal(parseSizeMb('lots'), undefined);
  assert.equal(parseSizeMb('5parsecs'), undefined);
  assert.equal(parseSizeGb('20gb'), 20);
  assert.equal(parseSizeGb('3GB'), 3);
  assert.equal(parseSizeGb(10), 10);
  assert.equal(parseSizeGb('500mb'), 1);
  assert.deepEqual(VM_PRESETS['shared-cpu-1x'], { cpu_kind: 'shared', cpus: 1, memory_mb: 256 });
  assert.deepEqual(VM_PRESETS['performance-2x'], { cpu_kind: 'performance', cpus: 2, memory_mb: 4096 });
});

test('suggest finds close names only', () => {
  assert.equal(suggest('http_servce', ['http_service', 'services']), 'http_service');
  assert.equal(suggest('kill_timout', ['kill_timeout', 'kill_signal']), 'kill_timeout');
  assert.equal(suggest('zzz', ['app', 'env']), undefined);
});

test('commands split like a shell', () => {
  assert.deepEqual(splitShellWords('gunicorn --bind :8000 app:server'), [
    'gunicorn',
    '--bind',
    ':8000',
    'app:server',
  ]);
  assert.deepEqual(splitShellWords(`sh -c "echo 'hi there'"`), ['sh', '-c', "echo 'hi there'"]);
  assert.deepEqual(splitShellWords(`a\\ b 'c d' ""`), ['a b', 'c d', '']);
  assert.equal(splitShellWords(`echo "unterminated`), undefined);
});
