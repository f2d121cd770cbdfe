#!/usr/bin/env bash
# `npm test`: install what the tests need, check formatting, lint and types, then run every test
# (units beside the code, end-to-end scenarios in test/) with real components.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# chromium runs the web dashboard's end-to-end test (test/dashboard.test.ts).
scripts/setup.sh docker-registry skopeo umoci busybox-static pebble chromium
scripts/build-web.sh
# The microVM guest kernel, so test/microvm.test.ts runs instead of skipping (it says why if not).
scripts/microvm-assets.sh || echo "test: could not fetch the microVM guest kernel" >&2
node=node_modules/node/bin/node
echo "test: biome check"
node_modules/.bin/biome check .
echo "test: tsc --noEmit"
"$node" node_modules/typescript/bin/tsc --noEmit -p .
echo "test: node --test"
files=$(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
# shellcheck disable=SC2086
exec "$node" --disable-warning=ExperimentalWarning --test --test-concurrency=2 --test-timeout=600000 $files
