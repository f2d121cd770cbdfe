/**
 * Builds the web dashboard (src/web) into dist/web, which the API serves at `/` (src/api/dashboard.ts).
 * Run by scripts/build-web.sh; everything it needs is in node_modules, so it builds offline.
 */
import { resolve } from 'node:path';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [preact()],
  // The CLI's deploy steps (a rollback from the page) wait with Node's promise timers.
  resolve: {
    alias: { 'node:timers/promises': resolve(import.meta.dirname, 'shims', 'timers-promises.ts') },
  },
  // The regions' coordinates come from data/cities.tsv, outside the app's root.
  server: { fs: { allow: [resolve(import.meta.dirname, '..', '..')] } },
  build: {
    outDir: resolve(import.meta.dirname, '..', '..', 'dist', 'web'),
    emptyOutDir: true,
    // Inlined assets would be `data:` URLs; the map's geometry stays a file the browser caches.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
});
