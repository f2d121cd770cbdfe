#!/bin/sh
# Stages Node and the libraries it links into rootfs/, the base of the guestbook's image: no
# registry is needed to build it (the world has no internet). Run once before `nearby deploy`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
node=${NODE:-$here/../../node_modules/node/bin/node}
[ -x "$node" ] || { echo "stage.sh: no Node binary at $node (run npm install at the repo's root, or set NODE=)" >&2; exit 1; }
rm -rf "$here/rootfs"
mkdir -p "$here/rootfs/usr/local/bin" "$here/rootfs/tmp"
# Stripped: the debug info is 18 MB of the 126 MB every host pulls.
cp -L "$node" "$here/rootfs/usr/local/bin/node"
strip "$here/rootfs/usr/local/bin/node" 2>/dev/null || true
# Every library ldd names (libc, libstdc++, libm, …) and the loader, at the paths it names.
ldd "$node" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
  mkdir -p "$here/rootfs$(dirname "$lib")"
  cp -L "$lib" "$here/rootfs$lib"
done
chmod 1777 "$here/rootfs/tmp"
du -sh "$here/rootfs"
