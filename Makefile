# SPDX-License-Identifier: GPL-2.0-or-later
#
# vhost-dp: the vhost dataplane series for QEMU, as an overlay.
#
#   make          set up (as needed), assemble and build QEMU with the series
#                 on the stable base (Debian 13's QEMU 10.0)
#   make build-dev  the same on the dev base, the newest QEMU in Debian
#   make check    the above, the ASan+UBSan build, then every test (the
#                 qtests also on the dev base)
#   make libvirt  Debian 12's libvirt with the patches of libvirt/, built in
#                 build/libvirt-build (make check runs it)
#   make demo     the above, then the main job: a real guest on vhostdp
#   make bench    the benchmark harness
#   make fuzz     fuzz the ring core for FUZZ_SECONDS (default 300)
#   make fuzz-coverage   the ring core's line coverage by the fuzz corpus
#   make fuzz-qemu  QEMU's own fuzzer (clang build) on vhostdp, FUZZ_SECONDS
#   make series   export the series as git format-patch files for the dev
#                 base (BASE=stable: the backport to 10.0)
#   make series-check   export both and check them (git am, checkpatch)
#   make series-build-each   build every commit of the series (BASE=...)
#
# QEMU_SRC=/path/to/qemu uses an existing QEMU tree instead of Debian's.

SHELL := /bin/bash
REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(REPO)/build
QBUILD := $(BUILD)/qemu-build
NINJA_JOBS ?= $(shell nproc)

export VHOST_DP_CACHE ?= /var/cache/vhost-dp
export CCACHE_DIR ?= $(VHOST_DP_CACHE)/ccache
export CCACHE_BASEDIR := $(REPO)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE ?= 5G

.PHONY: all deps build build-dev build-asan guest check demo bench fuzz \
	libvirt \
	fuzz-coverage series-build-each \
	fuzz-qemu \
	series series-check clean

all: build

deps:
	@$(REPO)/build-aux/deps.sh

build: deps
	@BASE=stable $(REPO)/build-aux/build.sh
	@ln -sfn qemu-build/qemu-system-x86_64 $(BUILD)/qemu-system-x86_64
	@echo "vhost-dp: built $(BUILD)/qemu-system-x86_64"

# The series on the newest QEMU Debian serves (build-aux/base.conf)
build-dev: deps
	@BASE=dev $(REPO)/build-aux/build.sh

# The series' qtests run on this one too (VDP_ASAN=0 make check skips it)
build-asan: build
	@if [ "$${VDP_ASAN:-1}" != 0 ]; then \
	    NINJA_JOBS=$(NINJA_JOBS) $(REPO)/build-aux/build-asan.sh; fi

guest: deps
	@$(REPO)/tests/guest/build-image.sh > /dev/null

libvirt: deps
	@$(REPO)/libvirt/build.sh

check: build build-asan build-dev guest libvirt
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

# BASE=dev (default): the series upstream reviews; BASE=stable: the backport
series: deps
	@BASE=$(or $(BASE),dev) $(REPO)/build-aux/export-series.sh

series-check: deps
	@BASE=dev $(REPO)/build-aux/export-series.sh --check
	@BASE=stable $(REPO)/build-aux/export-series.sh --check

# Every commit of the exported series builds (not in make check: ~40 min)
series-build-each: deps
	@BASE=$(or $(BASE),dev) $(REPO)/build-aux/export-series.sh --build-each

clean:
	rm -rf $(BUILD)
