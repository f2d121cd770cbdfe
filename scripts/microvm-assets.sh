#!/usr/bin/env bash
# Fetches the microVM guest kernel (Debian's linux-image-cloud-amd64) without installing it on the
# host (no /boot, no grub): the packages are downloaded and unpacked, and only the kernel image and
# the virtio modules the guest needs are kept, in the assets dir (default /var/cache/nearby/microvm,
# or $NEARBY_MICROVM_ASSETS). Idempotent: does nothing when the assets are there.
set -euo pipefail
dest="${1:-${NEARBY_MICROVM_ASSETS:-/var/cache/nearby/microvm}}"
# Load order matters: each module after the ones it depends on (checked against their modinfo below).
modules=(virtio_ring virtio virtio_mmio virtio_blk failover net_failover virtio_net virtio_console)

if [ -f "$dest/vmlinuz" ] && [ -f "$dest/modules.order" ]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# _apt cannot write into a root-only temp dir; a download as root is fine for a file we only unpack.
apt-get download -q linux-image-cloud-amd64 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
meta="$(ls linux-image-cloud-amd64_*.deb)"
versioned="$(dpkg-deb -f "$meta" Depends | grep -o 'linux-image-[0-9][^ ,]*' | head -1)"
if [ -z "$versioned" ]; then
  echo "microvm-assets: cannot tell which kernel $meta depends on" >&2
  exit 1
fi
apt-get download -q "$versioned" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
dpkg-deb -x "$(ls "$versioned"_*.deb)" unpacked
release="${versioned#linux-image-}"
tree="unpacked/lib/modules/$release"

mkdir -p "$dest.tmp/modules"
cp "unpacked/boot/vmlinuz-$release" "$dest.tmp/vmlinuz"
loaded=" "
: >"$dest.tmp/modules.order"
for name in "${modules[@]}"; do
  file="$(find "$tree" -name "$name.ko" | head -1)"
  if [ -z "$file" ]; then
    echo "microvm-assets: the kernel $release has no module $name" >&2
    exit 1
  fi
  # Debian ships no modules.dep (depmod makes it on install): read each module's own list.
  for dep in $(grep -a -o 'depends=[a-z_0-9,-]*' "$file" | head -1 | cut -d= -f2 | tr ',' ' '); do
    if [[ "$loaded" != *" $dep "* ]]; then
      echo "microvm-assets: $name needs $dep loaded first; fix the order in $0" >&2
      exit 1
    fi
  done
  cp "$file" "$dest.tmp/modules/"
  echo "/lib/modules/$name.ko" >>"$dest.tmp/modules.order"
  loaded="$loaded$name "
done
echo "$release" >"$dest.tmp/release"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$dest.tmp" "$dest"
echo "microvm-assets: guest kernel $release and ${#modules[@]} virtio modules in $dest"
