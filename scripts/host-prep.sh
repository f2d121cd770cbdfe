#!/usr/bin/env bash
# Prepares this host for crun sandboxes: crun refuses a hybrid cgroup layout (v1 controllers plus a
# unified mount) until the hugetlb v1 controller is mounted too. Idempotent; prints what it changed.
set -euo pipefail

changed=0
if [ -d /sys/fs/cgroup/unified ] && [ -d /sys/fs/cgroup/memory ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null || {
    # /sys/fs/cgroup may be a read-only tmpfs on some hosts: remount it writable first.
    mount -o remount,rw /sys/fs/cgroup
    mkdir -p /sys/fs/cgroup/hugetlb
  }
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  echo "host-prep: mounted the hugetlb v1 cgroup controller at /sys/fs/cgroup/hugetlb (crun needs it in hybrid mode)"
  changed=1
fi

for key in net.ipv4.ip_forward net.ipv6.conf.all.forwarding; do
  if [ "$(sysctl -n "$key")" != 1 ]; then
    sysctl -qw "$key=1"
    echo "host-prep: set $key=1"
    changed=1
  fi
done

if [ -e /run/netns ] || mkdir -p /run/netns; then :; fi
[ "$changed" = 0 ] && echo "host-prep: nothing to change"
exit 0
