#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: our kernel against the unmodified base, on the same emulated
# machine ('switch'), alternating the two over ROUNDS rounds (default 5).
# Each round boots each kernel once with the 'bench' plan; the figures are
# collected by harness/benchstats.py into build/bench/results.json.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# make hands its command line's knobs (ARCH among them) to every make
# below through MAKEFLAGS; the module is built for x86_64 only.
unset MAKEFLAGS MAKEOVERRIDES MFLAGS
ROUNDS=${ROUNDS:-5}
TOPO=${TOPO:-switch}
OUT=$BUILD/bench
rm -rf "$OUT"
mkdir -p "$OUT"

# The benchmark module is built out of tree from the same source against
# both kernels, so both run the same code.
module() { # module OBJ DIR
	rm -rf "$2"
	mkdir -p "$2"
	cp "$TOP/lib/test_p2pdma_bench.c" "$2/"
	echo 'obj-m += test_p2pdma_bench.o' >"$2/Kbuild"
	make -C "$1" ARCH=x86_64 M="$2" modules
}

for tag in ours base; do
	if [ $tag = ours ]; then obj=$BUILD/obj-default; else obj=$BUILD/obj-base-default; fi
	step "building the benchmark module ($tag)" "bench-module-$tag" module "$obj" "$OUT/mod-$tag"
	cp "$OUT/mod-$tag/test_p2pdma_bench.ko" "$obj/kselftest/"
	step "building the initramfs ($tag)" "bench-initramfs-$tag" \
		"$TOP/harness/initramfs.sh" "$obj" "$obj/kselftest" "$OUT/initramfs-$tag.cpio.gz"
done

for r in $(seq "$ROUNDS"); do
	for tag in ours base; do
		if [ $tag = ours ]; then obj=$BUILD/obj-default; else obj=$BUILD/obj-base-default; fi
		step "round $r/$ROUNDS: $tag" "bench-$tag-$r" \
			"$TOP/harness/qemu.sh" "$TOPO" "$obj/arch/x86/boot/bzImage" \
			"$OUT/initramfs-$tag.cpio.gz" "$OUT/$tag-$r" bench
	done
done
python3 "$TOP/harness/benchstats.py" "$OUT" "$ROUNDS"
