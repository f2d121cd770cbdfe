#!/usr/bin/env bash
# Builds the web dashboard (src/web) with Vite into dist/web, which the API serves at `/`. Skips the
# build when dist/web is newer than everything under src (the page imports the CLI's steps and the
# API's types), data/cities.tsv and the lock file. Offline: all it needs is in node_modules.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
built=dist/web/index.html
if [ -f "$built" ] && [ -z "$(find src data/cities.tsv package-lock.json -newer "$built" -print -quit)" ]; then
  exit 0
fi
echo "build-web: building the dashboard into dist/web"
node_modules/node/bin/node node_modules/vite/bin/vite.js build --config src/web/vite.config.ts --logLevel warn
# Vite keeps the sources' times; the stamp says when this build was made.
touch "$built"
