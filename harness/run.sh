#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The steps behind the Makefile's targets: run.sh STEP...
#   deps prepare kernel selftests initramfs report check static series summary
# Knobs (environment): SERIES=none (the unmodified base), KCONFIG=debug,
# ARCH="x86_64 arm64" (default: both), TOPOS="switch rc ..." (default: every
# topology of those architectures in harness/topologies).  The per-kernel
# steps run once for each kernel the chosen topologies boot.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# ARCH, KCONFIG and SERIES reach us from make's command line, which also
# hands them to every make below through MAKEFLAGS: the kernel's would
# take ARCH from there.  Each make here is told its ARCH.
unset MAKEFLAGS MAKEOVERRIDES MFLAGS
ARCHS="x86_64 arm64"
KCONFIGS="default debug"
WANT_ARCH=${ARCH:-$ARCHS}
unset ARCH
KCONFIG=${KCONFIG:-default}
export SERIES KCONFIG

one_of() { # one_of KNOB VALUE KNOWN...: die unless VALUE is one of KNOWN
	local knob=$1 v=$2 k
	shift 2
	for k in "$@"; do [ "$v" = "$k" ] && return 0; done
	die "$knob=$v is not known; use one of: $*"
}
one_of KCONFIG "$KCONFIG" $KCONFIGS
[ -z "${SERIES:-}" ] || one_of SERIES "$SERIES" none
for a in $WANT_ARCH; do one_of ARCH "$a" $ARCHS; done
[ -n "${WANT_ARCH// /}" ] || die "ARCH is empty; use one or more of: $ARCHS"
# make report boots one topology: TOPO (default: the first one chosen).
case " $* " in *" report "*) TOPOS=${TOPO:-${TOPOS:-}} ;; esac
if [ -n "${TOPOS:-}" ]; then
	for t in $TOPOS; do
		line=$(topology_line "$t")
		[ -n "$line" ] || die "TOPOS: '$t' is not a topology; known: $(topology_names)"
		a=$(echo "$line" | awk '{ print $2 }')
		[[ " $WANT_ARCH " == *" $a "* ]] ||
			die "TOPOS: '$t' is an $a topology, but ARCH=$WANT_ARCH"
	done
else
	TOPOS=$(for a in $WANT_ARCH; do topology_names "$a"; done | xargs)
fi
case " $* " in *" report "*) TOPOS=${TOPOS%% *} ;; esac
# The kernels to build: "arch:variant" of each topology, in table order.
KERNELS=$(for t in $TOPOS; do topology_line "$t" | awk '{ print $2 ":" $3 }'; done |
	awk '!seen[$0]++' | xargs)
# The checks of the series' text run with the first standard kernel's.
TEXT_ARCH=$(echo "$KERNELS" | tr ' ' '\n' | awk -F: '$2 == "std" { print $1; exit }')
STEPS=" $* "

# Paths and fragments of kernel ARCH:VARIANT.  x86_64's standard kernel
# keeps the paths it always had (build/obj-default, build/obj-base-default).
set_kernel() { # set_kernel ARCH:VARIANT
	local sfx
	KARCH=${1%%:*} KVAR=${1#*:}
	sfx=
	[ "$KARCH" = x86_64 ] || sfx+=-$KARCH
	[ "$KVAR" = std ] || sfx+=-$KVAR
	FRAGS=("$TOP/harness/kconfig/p2pdma.config" "$TOP/harness/kconfig/$KARCH.config")
	[ "$KVAR" = std ] || FRAGS+=("$TOP/harness/kconfig/$KARCH-$KVAR.config")
	[ "$KCONFIG" = default ] || FRAGS+=("$TOP/harness/kconfig/$KCONFIG.config")
	if [ "${SERIES:-}" = none ]; then
		SRC=$BUILD/linux-base OBJ=$BUILD/obj-base$sfx-$KCONFIG TAG=base
	else
		SRC=$BUILD/linux OBJ=$BUILD/obj$sfx-$KCONFIG TAG=ours
		FRAGS+=("$TOP/harness/kconfig/series.config")
	fi
	[ "$KCONFIG" = default ] || TAG+="-$KCONFIG"
	# Topologies share one results directory per kernel tree and config.
	RESULTS=$BUILD/results/$TAG
	KTAG=$TAG${sfx}
	KSFT=$OBJ/kselftest
	INITRD=$OBJ/initramfs.cpio.gz
	case $KARCH in
	x86_64) IMAGE=$OBJ/arch/x86/boot/bzImage CROSS= ;;
	arm64) IMAGE=$OBJ/arch/arm64/boot/Image CROSS=aarch64-linux-gnu- ;;
	esac
	KTOPOS=$(for t in $TOPOS; do
		topology_line "$t" | awk -v k="$1" '$2 ":" $3 == k { print $1 }'
	done | xargs)
}

PKGS="linux-source-6.12 qemu-system-x86 busybox-static ccache sparse coccinelle
      build-essential flex bison bc libelf-dev libssl-dev cpio xz-utils kmod
      python3 python3-ply python3-git rsync file git"
PKGS_arm64="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm"

do_deps() {
	local missing pkgs=$PKGS
	[[ " $KERNELS" != *" arm64:"* ]] || pkgs+=" $PKGS_arm64"
	missing=$(for p in $pkgs; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
	done)
	if [ -n "$missing" ]; then
		[ "$(id -u)" = 0 ] || die "missing packages (run as root, or install them): $missing"
		echo ">> installing:" $missing
		step "apt-get install" deps sh -c "apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends $(echo $missing)"
	fi
	[[ " $KERNELS" != *" arm64:"* ]] || [ -x "$BUILD/busybox-arm64/bin/busybox" ] ||
		step "busybox-static for arm64" deps-arm64 fetch_busybox arm64
}

# The guest's busybox for a foreign architecture: Debian's busybox-static
# of that architecture, unpacked (installing it would replace the host's).
fetch_busybox() { # fetch_busybox ARCH
	local d=$BUILD/busybox-$1
	dpkg --print-foreign-architectures | grep -qx "$1" || {
		[ "$(id -u)" = 0 ] ||
			die "dpkg has no foreign architecture $1 (run as root, or: dpkg --add-architecture $1 && apt-get update)"
		dpkg --add-architecture "$1"
		apt-get update
	}
	rm -rf "$d" "$d.tmp"
	mkdir -p "$d.tmp"
	(cd "$d.tmp" && apt-get download "busybox-static:$1")
	dpkg-deb -x "$d.tmp"/busybox-static_*.deb "$d.tmp/root"
	mkdir -p "$d/bin"
	cp "$d.tmp/root/bin/busybox" "$d/bin/busybox"
	rm -rf "$d.tmp"
}

do_prepare() {
	"$TOP/harness/prepare.sh"
	if [ "${SERIES:-}" = none ] && [ ! -e "$BUILD/linux-base/Makefile" ]; then
		step "checking out the base tree" worktree \
			git -C "$BUILD/linux" worktree add -f --detach "$BUILD/linux-base" base
	fi
}

do_kernel() {
	step "building the kernel ($KTAG)" "kernel-$KTAG" \
		env KARCH="$KARCH" CROSS="$CROSS" "$TOP/harness/build.sh" "$SRC" "$OBJ" "${FRAGS[@]}"
}

build_selftests() {
	local cc=()
	rm -rf "$KSFT"
	[ -z "$CROSS" ] || cc=(ARCH="$KARCH" CROSS_COMPILE="$CROSS")
	make -C "$SRC/tools/testing/selftests" TARGETS=p2pdma O="$OBJ/ksft-build" "${cc[@]}" \
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
	step "building the selftests ($KTAG)" "selftests-$KTAG" build_selftests
}

do_initramfs() {
	local bb=/bin/busybox
	[ "$KARCH" = x86_64 ] || bb=$BUILD/busybox-$KARCH/bin/busybox
	step "building the initramfs ($KTAG)" "initramfs-$KTAG" \
		env BUSYBOX="$bb" "$TOP/harness/initramfs.sh" "$OBJ" "$KSFT" "$INITRD"
}

boot() { # boot TOPOLOGY PLAN
	"$TOP/harness/qemu.sh" "$1" "$IMAGE" "$INITRD" "$RESULTS/$1" "$2"
}

do_report() {
	local topo=$TOPOS
	step "booting '$topo' for the report" "report-$TAG" boot "$topo" report
	echo
	grep -v '^P2PDMA-HARNESS' "$RESULTS/$topo/ktap.log"
	echo
	python3 "$TOP/harness/results.py" --scan-only "$RESULTS/$topo"
}

do_check() {
	local t
	mkdir -p "$RESULTS"
	for t in $KTOPOS; do
		step "testing topology '$t' ($TAG)" "check-$TAG-$t" boot "$t" check || true
	done
}

# The checks of the series' text run once; sparse and W=1 once for each
# architecture's standard kernel.
do_static() {
	local text=0
	[ "$KVAR" = std ] || return 0
	[ "$KARCH" = "$TEXT_ARCH" ] && text=1
	step "static checks on the series ($KARCH)" "static-$KARCH" \
		env KARCH="$KARCH" CROSS="$CROSS" TEXT_CHECKS=$text \
		"$TOP/harness/static.sh" "$SRC" "$OBJ"
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
	local static=() k a
	if [[ "$STEPS" == *" static "* ]]; then
		for k in $KERNELS; do
			a=${k%%:*}
			[ "${k#*:}" = std ] && static+=(--static "$LOGS/static-$a.results")
		done
	fi
	python3 "$TOP/harness/results.py" --kunit "$SRC/tools/testing/kunit/kunit.py" \
		"${static[@]}" $(for t in $TOPOS; do echo "$RESULTS/$t"; done)
}

PER_KERNEL=" kernel selftests initramfs check static "
for s in "$@"; do
	if [[ "$PER_KERNEL" == *" $s "* ]]; then
		for k in $KERNELS; do
			set_kernel "$k"
			"do_$s"
		done
	else
		set_kernel "${KERNELS%% *}"
		"do_$s"
	fi
done
