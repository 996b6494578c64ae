# Bun is installed from npm into .tools/ when none is on PATH, so a machine with only Node + npm can run everything.
BUN_VERSION := 1.4.5
BUN := $(shell command -v bun 2>/dev/null || echo $(CURDIR)/.tools/node_modules/.bin/bun)
export PATH := $(dir $(BUN)):$(PATH)

.PHONY: run test build bench check clean

run: node_modules
	$(BUN) src/main.ts serve

# Files that measure what the garbage collector frees (*.gc.test.ts) run in a process of their own:
# what a hundred other files left on the shared heap made them fail now and then.
GC_TESTS := $(shell find test -name '*.gc.test.ts' | sort)

test: node_modules
	$(BUN) test --path-ignore-patterns='**/*.gc.test.ts'
	$(BUN) test $(addprefix ./,$(GC_TESTS))

build: node_modules
	@# --bytecode halves start-up (measured 85 → 41 ms median); it needs --format=esm for top-level await.
	@# The bot sandbox runs in a Worker, which a compiled binary can start only if it is an entrypoint too.
	$(BUN) build src/main.ts src/sandbox/worker.ts --compile --minify --bytecode --format=esm --no-compile-autoload-dotenv --no-compile-autoload-bunfig --outfile dist/parley

bench: node_modules build
	$(BUN) test/bench/run.ts
	$(BUN) test/bench/bots.ts
	$(BUN) test/bench/bot-attack.ts
	$(BUN) test/bench/gateway.ts

check: node_modules
	$(BUN) x tsc --noEmit

node_modules: package.json bun.lock | $(BUN)
	$(BUN) install --frozen-lockfile
	@touch node_modules

$(CURDIR)/.tools/node_modules/.bin/bun:
	npm install --prefix .tools --no-save --no-audit --no-fund bun@$(BUN_VERSION)
	@# npm may skip install scripts; bun's postinstall is what puts the real binary in place.
	@$@ --version >/dev/null 2>&1 || (cd .tools/node_modules/bun && node install.js)
	@$@ --version

clean:
	rm -rf dist .tools node_modules
