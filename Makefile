# SPDX-License-Identifier: GPL-2.0
# p2pdma: a PCI peer-to-peer DMA series for Linux 6.12 and the rig that
# builds, boots and tests it.  Every target is a short list of steps from
# harness/run.sh; see README.md for the knobs (SERIES, KCONFIG, ARCH, TOPOS).

RUN := harness/run.sh

.PHONY: all report check static bench deps prepare kernel boot series save reset clean help

## make: build our kernel, boot the default topology, print a short report
all: report

report:
	@$(RUN) deps prepare kernel selftests initramfs report

## make check: every test, in every topology of both architectures, and the static checks
check:
	@$(RUN) deps prepare kernel selftests initramfs check $(if $(filter none,$(SERIES)),,static) summary

static:
	@$(RUN) deps prepare kernel static

## make bench: our P2PDMA against the base kernel's, ratios of medians over 5 rounds
bench:
	@ARCH=x86_64 TOPOS= $(RUN) deps prepare kernel selftests
	@ARCH=x86_64 TOPOS= SERIES=none $(RUN) prepare kernel selftests
	@harness/bench.sh

deps:
	@$(RUN) deps

prepare:
	@$(RUN) deps prepare

kernel:
	@$(RUN) deps prepare kernel

## make boot TOPOS=rc: the tests of some topologies only
boot:
	@$(RUN) deps prepare kernel selftests initramfs check summary

series:
	@$(RUN) prepare series

save:
	@harness/save.sh

reset:
	@FORCE=1 harness/reset.sh

clean:
	rm -rf build

help:
	@sed -n 's/^## //p' Makefile
