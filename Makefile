# websocksy: `make` installs and builds, `make run` starts the default config, `make test` tests.
NPM ?= npm
CONFIG ?= websocksy.cfg

.PHONY: all build run test bench clean

all: build

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

build: node_modules/.installed
	npx tsc -p tsconfig.json

run: build
	./bin/websocksy $(CONFIG)

test: build
	node --test --test-concurrency=1 dist/test/*.test.js

CFLAGS_BENCH ?= -O2 -Wall -Wextra

bench/bin/%: bench/%.c
	@mkdir -p bench/bin
	$(CC) $(CFLAGS_BENCH) -o $@ $<

# Side-by-side figures against the anchors; needs websockify (apt-get install websockify).
bench: build bench/bin/loadgen bench/bin/echo
	node dist/bench/run.js

clean:
	rm -rf dist node_modules bench/bin
