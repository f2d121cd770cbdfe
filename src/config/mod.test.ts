import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { loadConfig } from './mod.ts';

test('loadConfig reads and parses a file; a missing file is CONFIG_NOT_FOUND', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'fly.toml'), 'app = "a"\n[http_service]\ninternal_port = 8080\n');
  const result = await loadConfig(join(dir, 'fly.toml'));
  assert.equal(result.config?.http_service?.internal_port, 8080);
  await assert.rejects(loadConfig(join(dir, 'missing.toml')), (error) => {
    assert.ok(isNearbyError(error, 'CONFIG_NOT_FOUND'));
    assert.match(error.message, /missing\.toml/);
    return true;
  });
});
