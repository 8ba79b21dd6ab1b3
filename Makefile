# SPDX-License-Identifier: GPL-2.0-or-later
#
# vhost-dp: the vhost dataplane series for QEMU, as an overlay.
#
#   make          set up (as needed), assemble and build QEMU with the series
#   make check    the above and the ASan+UBSan build, then every test
#   make demo     the above, then the main job: a real guest on vhostdp
#   make bench    the benchmark harness
#   make fuzz     fuzz the ring core for FUZZ_SECONDS (default 300)
#   make fuzz-coverage   the ring core's line coverage by the fuzz corpus
#   make fuzz-qemu  QEMU's own fuzzer (clang build) on vhostdp, FUZZ_SECONDS
#   make series   export the series as git format-patch files
#
# QEMU_SRC=/path/to/qemu uses an existing QEMU tree instead of Debian's.

SHELL := /bin/bash
REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(REPO)/build
QBUILD := $(BUILD)/qemu-build
QTESTS = $(shell $(REPO)/build-aux/qtests.sh)
NINJA_JOBS ?= $(shell nproc)

export VHOST_DP_CACHE ?= /var/cache/vhost-dp
export CCACHE_DIR ?= $(VHOST_DP_CACHE)/ccache
export CCACHE_BASEDIR := $(REPO)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE ?= 5G

.PHONY: all deps build build-asan guest check demo bench fuzz fuzz-coverage \
	fuzz-qemu \
	series series-check clean

all: build

deps:
	@$(REPO)/build-aux/deps.sh

build: deps
	@tree=$$($(REPO)/build-aux/assemble.sh) && \
	$(REPO)/build-aux/configure.sh "$$tree"
	@echo "vhost-dp: building QEMU as needed (ninja -j$(NINJA_JOBS))"
	@cd $(QBUILD) && ninja -j$(NINJA_JOBS) qemu-system-x86_64 \
	    $(addprefix tests/qtest/,$(QTESTS)) tests/unit/test-vhost-dp-ring \
	    > ninja.log 2>&1 || \
	    { grep -E -B2 -A8 'error|FAILED' ninja.log | head -60; \
	      echo "vhost-dp: error: the build failed (log: $(QBUILD)/ninja.log)"; \
	      exit 1; }
	@$(REPO)/build-aux/firmware.sh $(QBUILD)
	@ln -sfn qemu-build/qemu-system-x86_64 $(BUILD)/qemu-system-x86_64
	@echo "vhost-dp: built $(BUILD)/qemu-system-x86_64"

# The series' qtests run on this one too (VDP_ASAN=0 make check skips it)
build-asan: build
	@if [ "$${VDP_ASAN:-1}" != 0 ]; then \
	    NINJA_JOBS=$(NINJA_JOBS) $(REPO)/build-aux/build-asan.sh; fi

guest: deps
	@$(REPO)/tests/guest/build-image.sh > /dev/null

check: build build-asan guest
	@$(REPO)/build-aux/deps.sh fuzz
	@$(REPO)/build-aux/run-tests.sh

demo: build guest
	@$(REPO)/build-aux/demo.sh

bench: build
	@$(REPO)/build-aux/deps.sh bench
	@$(REPO)/tests/bench/run.sh

fuzz: build
	@$(REPO)/build-aux/deps.sh fuzz
	@$(REPO)/tests/fuzz/run.sh

fuzz-qemu: build
	@$(REPO)/build-aux/deps.sh fuzz
	@$(REPO)/tests/fuzz/qemu-fuzz.sh $(or $(FUZZ_SECONDS),300)

fuzz-coverage: build
	@$(REPO)/build-aux/deps.sh fuzz
	@$(REPO)/tests/fuzz/coverage.sh

series: deps
	@$(REPO)/build-aux/export-series.sh

series-check: deps
	@$(REPO)/build-aux/export-series.sh --check

clean:
	rm -rf $(BUILD)
