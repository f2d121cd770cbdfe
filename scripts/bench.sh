#!/usr/bin/env bash
# `npm run bench -- NAME`: run one benchmark from bench/ (pull, machine, isolation…), printing `name=value` lines.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
name="${1:-}"
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: npm run bench -- <$(ls bench/*.ts 2>/dev/null | xargs -n1 basename | sed 's/\.ts$//' | paste -sd'|')>" >&2
  exit 2
fi
shift
scripts/setup.sh docker-registry skopeo umoci busybox-static wrk nginx-light nghttp2-client iputils-ping
[ "$name" != microvm ] || scripts/microvm-assets.sh
exec node_modules/node/bin/node --disable-warning=ExperimentalWarning "bench/$name.ts" "$@"
