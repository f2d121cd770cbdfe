#!/usr/bin/env bash
# `npm run up`: set up this host, then run `nearby server` in the foreground.
# Arguments after `--` go to the server: npm run up -- --region fra --proxy-listen 0.0.0.0:80
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build-web.sh"
exec "$root/bin/nearby" server "$@"
