# websocksy: `make` installs and builds, `make run` starts the default config, `make test` tests,
# `make test-matrix` tests on every supported Node, `make fuzz` fuzzes, `make bench` and
# `make bench-matrix` measure.
NPM ?= npm
CONFIG ?= websocksy.cfg

.PHONY: all build native status-page run test test-matrix fuzz bench bench-matrix clean

all: build

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

# The client library first: the tests import it as websocksy/client, through package.json's exports.
build: node_modules/.installed native status-page
	npx tsc -p src/client/tsconfig.json
	npx tsc -p tsconfig.json
	npx tsc -p plugins/tsconfig.json
	@# tsc never deletes: a test renamed or removed would otherwise still run from an earlier build.
	@for f in dist/test/*.test.js; do [ -f "test/$$(basename "$$f" .js).ts" ] || rm -f "$${f%.js}".*; done

# The status page (docs/operations.md): its scripts, shell and style, and uPlot's files from its
# npm package, all in dist/status-page, which the package ships: the page needs no CDN.
STATUS_PAGE := dist/status-page
UPLOT := node_modules/uplot/dist
status-page: node_modules/.installed
	npx tsc -p src/status-page/tsconfig.json
	cp src/status-page/status.html src/status-page/status.css $(UPLOT)/uPlot.iife.min.js $(UPLOT)/uPlot.min.css $(STATUS_PAGE)/
	cp node_modules/uplot/LICENSE $(STATUS_PAGE)/uPlot.LICENSE

# C side of the plugin ABI (plugins/websocksy.h): the host library every C plugin links against
# at load time, the C plugins shipped in plugins/ (built into build/plugins, a plugin folder of
# their own: see docs/plugins.md), and the fault-injecting plugins the tests load.
CFLAGS_PLUGIN ?= -O2 -Wall -Wextra -shared -fPIC
HOST_LIBRARY := build/libwebsocksy-host.so
PLUGINS := $(patsubst plugins/%.c,build/plugins/%.so,$(wildcard plugins/*.c))
TEST_PLUGINS := $(patsubst test/plugins/%.c,build/test-plugins/%.so,$(wildcard test/plugins/*.c))
# Libraries the tests preload into websocksy to make the kernel's rarer answers happen on cue.
TEST_PRELOADS := $(patsubst test/preload/%.c,build/test-preload/%.so,$(wildcard test/preload/*.c))

native: $(HOST_LIBRARY) $(PLUGINS) $(TEST_PLUGINS) $(TEST_PRELOADS)

$(HOST_LIBRARY): src/native/host.c plugins/websocksy.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_PLUGIN) -Iplugins -o $@ $<

build/plugins/%.so: plugins/%.c plugins/websocksy.h plugins/config_integer.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_PLUGIN) -Iplugins -o $@ $<

build/test-plugins/%.so: test/plugins/%.c plugins/websocksy.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_PLUGIN) -Iplugins -o $@ $<

build/test-preload/%.so: test/preload/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_PLUGIN) -o $@ $< -ldl

run: build
	./bin/websocksy $(CONFIG)

# A hung test fails by name within 5 minutes instead of holding the run (the slowest test takes
# under a minute). Node 20 applies --test-timeout to each file as a whole and kills it; Node 22
# and 24 apply it to each test and wait, unbounded, for the file's process to exit after its last
# test: the preloaded test/helpers/reap-children.ts ends a file still running 10 s after it, and
# names what it left open.
TEST_FLAGS := --test-concurrency=1 --test-timeout=300000 --import ./dist/test/helpers/reap-children.js
test: build
	node --test $(TEST_FLAGS) dist/test/*.test.js

# The whole suite on every supported Node, each on the engine it picks: Node 20 here, Node 22 and
# 24 in a Debian 13 root that it builds with debootstrap (test/matrix/run.sh; needs root).
# MATRIX_NODES="22 24" picks rows; the root and Node downloads stay in build/matrix.
test-matrix: build
	TEST_FLAGS='$(TEST_FLAGS)' bash test/matrix/run.sh

# A seeded, time-bounded fuzzer against a websocksy of its own (fuzz/README.md): FUZZ_SECONDS
# (default 60), FUZZ_SEED (printed), FUZZ_CONCURRENCY. Not part of `make test`, which runs it
# for a few seconds only (test/fuzz.test.ts).
fuzz: build
	node dist/fuzz/main.js

CFLAGS_BENCH ?= -O2 -Wall -Wextra

bench/bin/%: bench/%.c bench/pattern.h bench/tool.h
	@mkdir -p bench/bin
	$(CC) $(CFLAGS_BENCH) -o $@ $<

# Side-by-side figures against the anchors; needs websockify (apt-get install websockify).
bench: build bench/bin/loadgen bench/bin/tcpload bench/bin/echo
	node dist/bench/run.js

# The same on every supported Node, one after the other: Node 20 here, Node 22 and 24 in the
# Debian 13 root of test-matrix (bench/matrix.sh; needs root). BENCH_NODES="22 24" picks rows;
# every BENCH_* variable goes to each row.
bench-matrix: build bench/bin/loadgen bench/bin/tcpload bench/bin/echo
	bash bench/matrix.sh

clean:
	rm -rf dist node_modules bench/bin build
