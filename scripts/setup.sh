#!/usr/bin/env bash
# Installs what nearby needs on a Debian 12 host, as root: Debian packages, npm dependencies with
# Node 24 (into node_modules), the native helpers; then prepares the host (scripts/host-prep.sh).
# Idempotent and quiet when there is nothing to do. Extra Debian packages may be named as arguments
# (the test script adds its own).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ "$(id -u)" != 0 ]; then
  echo "setup: nearby runs machines with namespaces, cgroups and a bridge: run this as root" >&2
  exit 1
fi

# golang-github-containers-common ships the default seccomp profile (/usr/share/containers/seccomp.json).
# qemu-system-x86 and qemu-utils run `--runtime microvm` machines (docs/microvm.md).
# docker-registry is nearby's own registry (a child of `nearby server`); buildah builds Dockerfiles.
# nats-server runs the cluster store (docs/cluster.md) and its tests.
# libnetfilter-queue-dev builds native/netdelay (the world's link delays); iputils-ping measures them.
# wireguard-go and wireguard-tools join hosts in the private mesh (this kernel may lack the module);
# bird2 announces the Anycast edge address; dnsutils (dig) checks the resolvers.
packages=(haproxy crun runc nftables iptables iproute2 attr e2fsprogs gcc libc6-dev ca-certificates curl openssl
  golang-github-containers-common qemu-system-x86 qemu-utils docker-registry buildah nats-server
  libnetfilter-queue-dev iputils-ping wireguard-go wireguard-tools bird2 dnsutils "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts some daemons on install; nearby runs its own instances.
  for service in haproxy nginx docker-registry nats-server; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi

# npm dependencies, including Node 24 itself (the `node` package), reinstalled when the lock changes.
stamp=node_modules/.nearby-lock
if [ ! -x node_modules/node/bin/node ] || ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  echo "setup: installing npm dependencies (with Node 24)"
  # `npm install`, not `npm ci`: npm 11 rejects its own lock file in ci when optional
  # platform packages (biome's per-OS binaries) are left out of it.
  npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

scripts/build-native.sh
scripts/host-prep.sh
