#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest test plan.  P2PDMA_PLAN says what to do:
#   check   run every test program for this topology (KTAP on stdout)
#   report  print the human report of `make`
# P2PDMA_TOPO names the topology and P2PDMA_EXPECT says what P2P between
# two NVMe functions must do there (see harness/topologies).
cd /opt/p2pdma || exit 1

# Let the NVMe namespaces appear before testing them.
for i in $(seq 50); do
	n=$(ls /sys/class/nvme 2>/dev/null | wc -l)
	b=$(ls /sys/block | grep -c '^nvme')
	[ "$n" -gt 0 ] && [ "$b" -ge "$n" ] && break
	sleep 0.1
done

# kmemleak reports an object once it has been unreferenced for 5 s, and
# only once a second scan confirms it: scan twice.  "clear" forgets only
# what a scan has reported, so the plan scans before clearing.
kmemleak_scan() {
	echo scan 2>/dev/null >"$1" && echo scan 2>/dev/null >"$1"
}

# One KTAP test: kmemleak finds no unreferenced object since the clear.
kmemleak_check() {
	echo "P2PDMA-HARNESS: running kmemleak"
	echo "TAP version 13"
	echo "1..1"
	sleep 6
	if ! kmemleak_scan "$1"; then
		dmesg | grep 'kmemleak' | tail -n 5 | sed 's/^/# /'
		echo "not ok 1 kmemleak finds no leak: it cannot scan (disabled?)"
	elif n=$(grep -c '^unreferenced object' "$1"); [ "$n" -eq 0 ]; then
		echo "ok 1 kmemleak finds no leak"
	else
		sed -n '1,40s/^/# /p' "$1"
		echo "not ok 1 kmemleak finds no leak: $n unreferenced objects"
	fi
	echo "P2PDMA-HARNESS: kmemleak exited 0"
}

case $P2PDMA_PLAN in
pci)
	# Debugging aid: PAT memory types, every PCI function with its
	# resources and extended capability IDs.
	cat /sys/kernel/debug/x86/pat_memtype_list 2>/dev/null
	for d in /sys/bus/pci/devices/*; do
		caps=$(od -An -tx4 -j256 -N3840 -v "$d/config" 2>/dev/null | head -c 0)
		echo "$(basename "$d") $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class")"
		off=256
		while [ "$off" -ne 0 ]; do
			h=$(od -An -tu4 -j"$off" -N4 "$d/config" 2>/dev/null | tr -d ' ')
			[ -z "$h" ] || [ "$h" = 0 ] && break
			printf '  ext cap 0x%04x at 0x%x\n' $((h & 0xffff)) "$off"
			off=$(( (h >> 20) & 0xffc ))
		done
	done
	;;
report)
	./p2pmem_report
	;;
bench)
	# One round of `make bench`: the module drives the kernel APIs, the
	# tool the userspace paths; each prints "BENCH name value unit".
	insmod ./test_p2pdma_bench.ko || echo "# insmod test_p2pdma_bench.ko failed"
	# Where p2pmem-pci exists: the spare ivshmem bound to it, 16 MiB as
	# p2pmem (odirect_spare_64k) and 4 MiB as an iopmem disk (iopmem_*).
	spare= disk=
	drv=/sys/bus/pci/drivers/p2pmem-pci
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] || continue
		[ -d $drv ] || break
		f=${d##*/}
		echo p2pmem-pci >"$d/driver_override"
		echo "$f" >$drv/bind && echo "2 16M" >"$d/p2pmem_offer" && spare=$f
		echo "2 4M 64M" >"$d/iopmem_offer" && disk=/dev/$(awk '{ print $4 }' "$d/iopmem_offer")
		break
	done
	./p2pdma_bench -t "${P2PDMA_BENCH_SECONDS:-1}" ${spare:+-s $spare} ${disk:+-d $disk}
	;;
check)
	# Fault injection (where configured) fails only the calls a task asks
	# for through its fail-nth file: every GFP_KERNEL slab and page
	# allocation may fail then, quietly (no stack dump for each).
	for d in /sys/kernel/debug/failslab /sys/kernel/debug/fail_page_alloc; do
		[ -d "$d" ] || continue
		echo N >"$d/ignore-gfp-wait"
		echo 0 >"$d/verbose"
		[ ! -e "$d/ignore-gfp-highmem" ] || echo N >"$d/ignore-gfp-highmem"
		[ ! -e "$d/min-order" ] || echo 0 >"$d/min-order"
	done
	# kmemleak (debug config): forget what boot left, so that what it
	# finds after the tests (KUnit's included) is theirs.
	kml=/sys/kernel/debug/kmemleak
	if [ -e $kml ]; then
		kmemleak_scan $kml || echo "# kmemleak cannot scan"
		echo clear >$kml
	fi
	# KUnit suites built as modules need the devices: load them now.
	# Their KTAP goes to the kernel log, which the host parses.  A
	# topology that runs a few tests only (p2pdma.kunit=no) leaves them
	# out: they register the spare BAR, which it may not allow.
	[ "${P2PDMA_KUNIT:-yes}" = no ] ||
	for m in $(find /lib/modules -name '*_kunit.ko' 2>/dev/null); do
		insmod "$m" expect="$P2PDMA_EXPECT" || echo "P2PDMA-HARNESS: insmod $m failed"
	done
	# The benchmark module of the series lets tests hold and churn kernel
	# allocations.  Without a provider (nocmb) it refuses to load, and the
	# base kernel has none: the tests that need it say so.
	m=$(find /lib/modules -name test_p2pdma_bench.ko 2>/dev/null)
	[ -z "$m" ] || insmod "$m" 2>/dev/null || true
	# p2pdma.tests=a,b runs only those: the topology's list, or a debugging aid
	# (in BOOT_APPEND).
	tests=$(cat tests)
	[ -z "${P2PDMA_TESTS:-}" ] || tests=$(echo "$P2PDMA_TESTS" | tr , ' ')
	for t in $tests; do
		echo "P2PDMA-HARNESS: running $t"
		./"$t"
		echo "P2PDMA-HARNESS: $t exited $?"
	done
	# A PMR boot: the barriers its disks counted, for the host to find
	# in QEMU's trace; in the phase "kill", QEMU is killed now, with the
	# flushed data in the PMR and nothing synced after.
	if [ -n "${P2PDMA_PMR_PHASE:-}" ]; then
		n=
		for d in /sys/block/iopmem*/iopmem; do
			[ -e "$d/flushes" ] || continue
			n=$(( ${n:-0} + $(cat "$d/flushes") + $(cat "$d/fua_writes") ))
		done
		[ -z "$n" ] || echo "P2PDMA-HARNESS: pmr barriers $n"
		if [ "$P2PDMA_PMR_PHASE" = kill ]; then
			echo "P2PDMA-HARNESS: kill now"
			sleep 600
		fi
	fi
	[ ! -e $kml ] || kmemleak_check $kml
	;;
esac
