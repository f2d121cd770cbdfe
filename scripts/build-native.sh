#!/usr/bin/env bash
# Builds nearby's native helpers into native/build/: the sandbox shim and the static hello test
# server. Idempotent: a binary is rebuilt only when its source is newer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/native/build"

build() {
  local name="$1"
  shift
  local src="$root/native/$name.c" out="$root/native/build/$name"
  if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
    gcc -O2 -Wall -Wextra -o "$out.tmp" "$src" "$@"
    mv "$out.tmp" "$out"
    echo "build-native: built native/build/$name"
  fi
}

build shim
build hello -static -pthread
build pty-relay
# Idmapped mounts of image rootfs for machines in user namespaces (docs/isolation.md).
build idmap-mount
# The world's link delays (bin/nearby world): NFQUEUE, since this kernel has no netem.
build netdelay -lnetfilter_queue -lnfnetlink
# The microVM guest's PID 1 (it runs from an initramfs with no libc of its own: static).
mkdir -p "$root/native/build/init"
build init/init -static
