#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The steps behind the Makefile's targets: run.sh STEP...
#   deps prepare kernel selftests initramfs report check static series
# Knobs (environment): SERIES=none (the unmodified base), KCONFIG=debug,
# TOPOS="switch rc ..." (default: every topology in harness/topologies).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KCONFIG=${KCONFIG:-default}
FRAGS=("$TOP/harness/kconfig/p2pdma.config")
case $KCONFIG in
default) ;;
debug) FRAGS+=("$TOP/harness/kconfig/debug.config") ;;
*) die "KCONFIG=$KCONFIG: use default or debug" ;;
esac
if [ "${SERIES:-}" = none ]; then
	SRC=$BUILD/linux-base OBJ=$BUILD/obj-base-$KCONFIG TAG=base
else
	SRC=$BUILD/linux OBJ=$BUILD/obj-$KCONFIG TAG=ours
	FRAGS+=("$TOP/harness/kconfig/series.config")
fi
[ "$KCONFIG" = default ] || TAG+="-$KCONFIG"
KSFT=$OBJ/kselftest
INITRD=$OBJ/initramfs.cpio.gz
RESULTS=$BUILD/results/$TAG
TOPOS=${TOPOS:-$(awk '!/^#/ && NF { print $1 }' "$TOP/harness/topologies")}
export SERIES KCONFIG

PKGS="linux-source-6.12 qemu-system-x86 busybox-static ccache sparse coccinelle
      build-essential flex bison bc libelf-dev libssl-dev cpio xz-utils kmod
      python3 python3-ply python3-git rsync file git"

do_deps() {
	local missing
	missing=$(for p in $PKGS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
	done)
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages (run as root, or install them): $missing"
	echo ">> installing:" $missing
	step "apt-get install" deps sh -c "apt-get update && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $(echo $missing)"
}

do_prepare() {
	"$TOP/harness/prepare.sh"
	if [ "${SERIES:-}" = none ] && [ ! -e "$SRC/Makefile" ]; then
		step "checking out the base tree" worktree \
			git -C "$BUILD/linux" worktree add -f --detach "$SRC" base
	fi
}

do_kernel() {
	step "building the kernel ($TAG)" "kernel-$TAG" \
		"$TOP/harness/build.sh" "$SRC" "$OBJ" "${FRAGS[@]}"
}

build_selftests() {
	rm -rf "$KSFT"
	make -C "$SRC/tools/testing/selftests" TARGETS=p2pdma O="$OBJ/ksft-build" \
		KHDR_INCLUDES="-isystem $OBJ/usr/include" LDFLAGS=-static \
		INSTALL_PATH="$KSFT-install" install
	mkdir -p "$KSFT"
	cp "$KSFT-install"/p2pdma/* "$KSFT/"
	# The plan runs the tests in the order of the Makefile's TEST_GEN_PROGS.
	sed -n 's/^p2pdma://p' "$KSFT-install/kselftest-list.txt" >"$KSFT/tests"
}

do_selftests() {
	if [ "${SERIES:-}" = none ]; then
		# The base has no p2pdma selftests: test it with ours.
		rm -rf "$SRC/tools/testing/selftests/p2pdma"
		cp -r "$TOP/tools/testing/selftests/p2pdma" "$SRC/tools/testing/selftests/"
	fi
	step "building the selftests ($TAG)" "selftests-$TAG" build_selftests
}

do_initramfs() {
	step "building the initramfs ($TAG)" "initramfs-$TAG" \
		"$TOP/harness/initramfs.sh" "$OBJ" "$KSFT" "$INITRD"
}

boot() { # boot TOPOLOGY PLAN
	"$TOP/harness/qemu.sh" "$1" "$OBJ/arch/x86/boot/bzImage" "$INITRD" "$RESULTS/$1" "$2"
}

do_report() {
	local topo=${TOPO:-switch}
	step "booting '$topo' for the report" "report-$TAG" boot "$topo" report
	echo
	grep -v '^P2PDMA-HARNESS' "$RESULTS/$topo/ktap.log"
	echo
	python3 "$TOP/harness/results.py" --scan-only "$RESULTS/$topo"
}

do_check() {
	local t
	mkdir -p "$RESULTS"
	for t in $TOPOS; do
		step "testing topology '$t' ($TAG)" "check-$TAG-$t" boot "$t" check || true
	done
}

do_static() {
	step "static checks on the series" static "$TOP/harness/static.sh" "$SRC" "$OBJ"
}

do_series() {
	rm -rf "$BUILD/series"
	git -C "$BUILD/linux" format-patch -q --cover-letter -o "$BUILD/series" base..series
	# Subject and blurb of the cover letter come from patches/cover-letter.
	python3 - "$BUILD/series/0000-cover-letter.patch" "$TOP/patches/cover-letter" <<-'PY'
	import sys
	cover, text = sys.argv[1], open(sys.argv[2]).read().split("\n", 1)
	s = open(cover).read()
	s = s.replace("*** SUBJECT HERE ***", text[0]).replace("*** BLURB HERE ***", text[1].strip())
	open(cover, "w").write(s)
	PY
	echo ">> $(ls "$BUILD/series" | wc -l) files in build/series"
}

do_summary() {
	local static=()
	[ "${SERIES:-}" = none ] || static=(--static "$LOGS/static.results")
	python3 "$TOP/harness/results.py" --kunit "$SRC/tools/testing/kunit/kunit.py" \
		"${static[@]}" $(for t in $TOPOS; do echo "$RESULTS/$t"; done)
}

for s in "$@"; do
	"do_$s"
done
