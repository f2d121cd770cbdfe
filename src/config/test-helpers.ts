/** Shared by the config tests: parse a snippet and look at what a user would read. */
import assert from 'node:assert/strict';
import { parseConfig } from './parse.ts';
import type { AppConfig, ConfigResult } from './types.ts';

export function valid(text: string): { config: AppConfig; warnings: string[] } {
  const result = parseConfig(text);
  assert.deepEqual(result.errors, [], 'expected no errors');
  assert.ok(result.config);
  return { config: result.config, warnings: result.warnings.map((issue) => issue.message) };
}

/** The error messages of an invalid config (asserting it is invalid). */
export function invalid(text: string): string[] {
  const result: ConfigResult = parseConfig(text);
  assert.equal(result.config, undefined, 'expected the config to be rejected');
  assert.ok(result.errors.length > 0);
  return result.errors.map((issue) => issue.message);
}
