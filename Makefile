# websocksy: `make` installs and builds, `make run` starts the default config, `make test` tests.
NPM ?= npm
CONFIG ?= websocksy.cfg

.PHONY: all build run test clean

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

clean:
	rm -rf dist node_modules
