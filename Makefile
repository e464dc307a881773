# leuknode: the front door.
#
# Targets:
#   make deps    install the Debian packages the build needs (apt-get, only when dpkg -s says one is missing)
#   make build   deps + release build of the leuknode binary (.build/release/leuknode), for institutions
#   make test    deps + build + schemathesis against a real node's API (docs/scripts/schemathesis.sh: pip
#                installs it into ~/.cache/leuknode-venv when missing; about a minute) + the portal's browser
#                tests in headless Chromium against a real node (docs/scripts/portal_browser.sh: Debian's
#                chromium and chromium-driver, selenium from pip into the same venv; under a minute) + 10 crash
#                loops and the tmpfs disk-full scenario (docs/scripts/crash_loop.py, CRASH_RUNS=10; about 1-2 minutes)
#                + the whole test suite (ends with the test runner's summary line) + every fuzz target for
#                FUZZ_CI_SECONDS (20) each, sanitized (`make fuzz`; its own build, then 220 s)
#   make crash-test  deps + debug build + CRASH_RUNS (default 100) kill -9 crash loops under clinic traffic, then the
#                disk-full scenario on a small tmpfs (skipped where mounting is not allowed); CRASH_SEED replays one
#   make run     deps + debug build (its numeric modules are optimised) + the embedded demo: a three-node
#                federation on loopback on synthetic cells (`leuknode demo`)
#   make bench   deps + build + the CNN benchmark table (leuknode bench) + the network figures; then, where
#                PYTHON (default python3) can import torch, safetensors and numpy, every kernel set this CPU
#                runs against PyTorch channels-last, alternated, median of 3 pairs, 1 thread
#                (docs/scripts/compare_pytorch.py --kernels all; a few minutes)
#   make fuzz    deps + the sanitized fuzzing build (.build/fuzz: libFuzzer coverage + AddressSanitizer, only the
#                leukfuzz product) + every fuzz target for FUZZ_SECONDS each (default 60); crashing inputs land in
#                Tests/FuzzCorpus/<target>/regressions, figures in .build/fuzz/stats.tsv (docs/reliability.md, "Fuzzing")
#   make clean   remove build products and the demo folder

SHELL := /bin/bash
APT_PACKAGES := libsodium-dev libleveldb-dev libopenblas-dev libstb-dev libtiff-dev pkg-config
SWIFT ?= swift
JOBS ?= $(shell nproc)
BIN := .build/release/leuknode

.PHONY: deps test-deps build test crash-test run bench fuzz fuzz-build clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release -j $(JOBS) --product leuknode

# schemathesis and selenium run in a Python virtualenv: install Debian's python3 and venv only when they are
# missing; the portal's browser tests drive Debian's headless Chromium through its chromedriver.
BROWSER_PACKAGES := chromium chromium-driver

test-deps: deps
	@python3 -c 'import venv, ensurepip' 2>/dev/null || $(MAKE) --no-print-directory deps APT_PACKAGES="python3 python3-venv"
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(BROWSER_PACKAGES)"

test: test-deps
	$(SWIFT) build --build-tests -j $(JOBS)
	docs/scripts/schemathesis.sh .build/debug/leuknode
	docs/scripts/portal_browser.sh .build/debug/leuknode
	CRASH_RUNS=$(TEST_CRASH_RUNS) python3 docs/scripts/crash_loop.py .build/debug/leuknode
	$(SWIFT) test --skip-build 2>&1 | tee .build/test-output.txt; test $${PIPESTATUS[0]} -eq 0
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

CRASH_RUNS ?= 100
TEST_CRASH_RUNS ?= 10

crash-test: deps
	@command -v python3 >/dev/null || $(MAKE) --no-print-directory deps APT_PACKAGES=python3
	$(SWIFT) build -j $(JOBS) --product leuknode
	CRASH_RUNS=$(CRASH_RUNS) python3 docs/scripts/crash_loop.py .build/debug/leuknode

run: deps
	$(SWIFT) build -j $(JOBS) --product leuknode
	.build/debug/leuknode demo

PYTHON ?= python3

bench: build
	$(BIN) bench
	$(BIN) bench-net
	@if $(PYTHON) -c 'import torch, safetensors, numpy' 2>/dev/null; then \
	  $(PYTHON) docs/scripts/compare_pytorch.py --leuknode $(BIN) --kernels all --pairs 3; \
	else \
	  echo "skipping the PyTorch comparison: $(PYTHON) cannot import torch, safetensors and numpy"; \
	  echo "  (a venv with them: PYTHON=/path/to/venv/bin/python make bench; see docs/cnn.md)"; \
	fi

# Fuzzing. The sanitized build has its own scratch folder and builds the leukfuzz product alone (the modules whose
# parsers it fuzzes and their dependencies). Coverage is compiled in with -sanitize-coverage, and libFuzzer comes
# from compiler-rt's fuzzer_no_main archive, so leukfuzz keeps its own main and picks the target by name
# (swiftc -sanitize=fuzzer would link libFuzzer's main as well, which clashes with it).
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 20
FUZZ_SCRATCH := .build/fuzz
FUZZ_RUNTIME = $(firstword $(wildcard $(dir $(realpath $(shell command -v swiftc)))../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-$(shell uname -m).a))
FUZZ_FLAGS = --scratch-path $(FUZZ_SCRATCH) --sanitize=address \
	-Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -DLEUKFUZZ_LIBFUZZER \
	-Xlinker $(FUZZ_RUNTIME) -Xlinker -lstdc++

# --sanitize=address builds the OpenAPI generator's tool (LeukAPI's build plugin) with ASan too, and its
# LeakSanitizer fails the build whenever the tool regenerates over existing files (a 4 KiB leak in the tool's
# file comparison): leak detection is off while building, as it is for fuzzing (fuzz.sh).
fuzz-build: deps
	@test -n "$(FUZZ_RUNTIME)" || { echo "no libclang_rt.fuzzer_no_main in the Swift toolchain next to swiftc"; exit 1; }
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) build -j $(JOBS) $(FUZZ_FLAGS) --product leukfuzz

fuzz: fuzz-build
	docs/scripts/fuzz.sh $(FUZZ_SCRATCH)/debug/leukfuzz $(FUZZ_SECONDS)

clean:
	rm -rf .build .leuknode-demo
