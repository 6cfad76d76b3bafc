#!/usr/bin/env bash
# `make bench-matrix`: the benchmark (bench/run.ts) on every Node websocksy supports, each on the
# engine websocksy picks there, one after the other on this machine, so that "fast" is measured
# where users run it and not on Node 20 alone:
#   - Node 20 on this machine (Debian 12): uWS 20.30;
#   - Node 22 and 24 in the Debian 13 root `make test-matrix` builds (test/matrix/debian13-root.sh,
#     shared with it): uWS 20.57.
# The root also gets what the benchmark needs beyond the suite's packages (wrk, socat,
# websockify), once. Every BENCH_* variable is passed to each row (BENCH_ONLY=routes,framing for
# a shorter run). Each row's report is written where bench/run.ts writes it, with -nodeNN added
# for the rows in the root; a summary of every row's verdicts follows.
#
# BENCH_NODES (default "20 22 24") picks the rows; MATRIX_DIR (default build/matrix) is the
# folder `make test-matrix` keeps the root in. Needs root (chroot, mounts) and debootstrap.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${MATRIX_DIR:-$REPO/build/matrix}
NODES=${BENCH_NODES:-20 22 24}
TOOL=bench-matrix
BENCH_PACKAGES="wrk socat websockify"

fail() {
  echo "bench-matrix: $*" >&2
  exit 2
}

# shellcheck source=../test/matrix/debian13-root.sh
. "$REPO/test/matrix/debian13-root.sh"

mkdir -p "$WORK"
SUMMARY=$WORK/bench-summary.txt
: >"$SUMMARY"

# The BENCH_* variables of this run as `NAME=value ...`, quoted for a shell inside the root.
bench_environment() {
  local name
  for name in $(compgen -e | grep '^BENCH_' | grep -v '^BENCH_NODES$' || true); do
    printf '%s=%q ' "$name" "${!name}"
  done
}

# The lines of report $1 that give a verdict: the rows of its Targets table that were measured,
# the workloads' own lines that name a target, and the tunnel's figures against its anchors.
verdicts() {
  awk '/^## /{ targets = ($0 == "## Targets") }
    targets && /^\| / && !/^\| target \|/ && !/^\|---/ && !/\| n\/a \|/ { print; next }
    !targets && (/target/ || /TCP through the tunnel/) { print }' "$1"
}

# record ROW REPORT: the row's verdicts into the summary.
record() {
  printf '\n%s (%s)\n' "$1" "$2" >>"$SUMMARY"
  verdicts "$2" >>"$SUMMARY"
}

# The newest report in folder $1.
newest_report() {
  ls -t "$1"/*.md | head -1
}

bench_on_host() {
  local log=$WORK/bench-node20-debian12.log
  echo "bench-matrix: Node $(node --version) on this machine" >&2
  (cd "$REPO" && node dist/bench/run.js) >"$log" 2>&1 || fail "the row on this machine failed; see $log"
  record "Node $(node --version), this machine" "$(newest_report "$REPO/bench/results")"
}

bench_packages_in_root() {
  [ "$(cat "$ROOTFS/.bench-packages" 2>/dev/null)" = "$BENCH_PACKAGES" ] && return
  echo "bench-matrix: installing $BENCH_PACKAGES in the Debian 13 root" >&2
  (export PATH_INSIDE=/usr/sbin:/usr/bin:/sbin:/bin CI_INSIDE= && run_in_root \
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $BENCH_PACKAGES") >>"$WORK/debootstrap.log" 2>&1 ||
    fail "installing $BENCH_PACKAGES in the Debian 13 root failed; see $WORK/debootstrap.log"
  echo "$BENCH_PACKAGES" >"$ROOTFS/.bench-packages"
}

bench_in_root() {
  local major=$1 version=${NODE_VERSION[$1]} folder=bench-$1 log=$WORK/bench-node$1-debian13.log report name
  prepare_row "$major" "$folder"
  bench_packages_in_root
  echo "bench-matrix: Node $version in the Debian 13 root" >&2
  export CI_INSIDE=
  run_in_root "cd /work/$folder && $(bench_environment) node dist/bench/run.js" >"$log" 2>&1 ||
    fail "the row of Node $version failed; see $log"
  report=$(newest_report "$ROOTFS/work/$folder/bench/results")
  name=$(basename "$report" .md)-node$major.md
  cp "$report" "$REPO/bench/results/$name"
  record "Node $version, Debian 13 root" "$REPO/bench/results/$name"
}

[ -x "$REPO/bench/bin/loadgen" ] && [ -x "$REPO/bench/bin/tcpload" ] && [ -f "$REPO/dist/bench/run.js" ] || fail "build first (make bench-matrix builds)"
for row in $NODES; do
  case $row in
    20) bench_on_host ;;
    22 | 24) bench_in_root "$row" ;;
    *) fail "BENCH_NODES names an unknown row \"$row\" (known: 20 22 24)" ;;
  esac
done
cat "$SUMMARY"
