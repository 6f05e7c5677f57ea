#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot one topology: qemu.sh TOPOLOGY KERNEL INITRD OUTDIR [PLAN]
# Writes OUTDIR/console.log (kernel) and OUTDIR/ktap.log (tests, on a second
# serial port).  Fails on timeout, on a boot that never reached the end of
# the plan, and prints the tail of the console log when it does.  A
# topology with a PMR boots once for each phase of pmr_test over one
# backing file; the logs of all its boots are put together in that order.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

topo=$1 kernel=$2 initrd=$3 out=$4 plan=${5:-check}
read -r _ arch _ machine cpu layout cmbs iommu expect spare pmr tests < <(topology_line "$topo")
[ -n "${cpu:-}" ] || die "unknown topology '$topo' (known: $(topology_names))"
timeout=${BOOT_TIMEOUT:-600}

rm -rf "$out"
mkdir -p "$out"
args=(-nodefaults -accel tcg -smp 2 -m 2G -nographic -no-reboot
      -kernel "$kernel" -initrd "$initrd" -serial "file:$out/console@PHASE@.log" -monitor none)
cmdline="panic=-1 oops=panic loglevel=7 p2pdma.topo=$topo p2pdma.expect=$expect p2pdma.spare=$spare p2pdma.iommu=$iommu p2pdma.cmb=$cmbs p2pdma.plan=$plan"
[ "$tests" = all ] || cmdline+=" p2pdma.tests=$tests p2pdma.kunit=no"
mopt=
[ "$machine" = - ] || mopt=",$machine"
case $arch in
x86_64)
	qemu=qemu-system-x86_64
	args+=(-M "q35$mopt" -cpu "$cpu" -serial "file:$out/ktap@PHASE@.log")
	cmdline+=" console=ttyS0"
	;;
arm64)
	# The virt machine has one PL011: the tests write to a PCI 16550 on
	# the root bus.  Pointer authentication with QEMU's own algorithm
	# instead of QARMA is several times faster under TCG.
	qemu=qemu-system-aarch64
	args+=(-M "virt,gic-version=3$mopt" -cpu "$cpu,pauth-impdef=on"
	       -chardev "file,id=ktap,path=$out/ktap@PHASE@.log" -device pci-serial,chardev=ktap,bus=pcie.0)
	cmdline+=" console=ttyAMA0 p2pdma.ktap=ttyS0"
	;;
esac
# The soak runs longer under the debug config's checkers.
[ "${KCONFIG:-default}" = debug ] && soak=60 || soak=10
cmdline+=" p2pdma.soak_seconds=${SOAK_SECONDS:-$soak}"

case $iommu in
on) args+=(-device intel-iommu); cmdline+=" intel_iommu=on" ;;
pt) args+=(-device intel-iommu); cmdline+=" intel_iommu=on iommu=pt" ;;
esac
if [ "$layout" = switch ]; then
	args+=(-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1
	       -device x3130-upstream,id=up0,bus=rp0)
fi
hotplug=()
pmropt=
if [ "$pmr" != - ]; then
	# A PMR backed by a file that outlives each boot, and a trace of
	# the controller's register reads: each PMR barrier reads PMRSTS.
	truncate -s "${pmr}M" "$out/pmr.img"
	args+=(-object "memory-backend-file,id=pmr0,share=on,mem-path=$out/pmr.img,size=${pmr}M"
	       -trace pci_nvme_mmio_read -D "$out/trace@PHASE@.log")
	pmropt=",pmrdev=pmr0"
	cmdline+=" p2pdma.pmr=$pmr"
fi
if [ "$layout" = hotplug ]; then
	# Native PCIe hotplug (pciehp) instead of q35's ACPI hotplug, and a
	# QMP socket through which harness/qmp.py serves the guest's requests.
	args+=(-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off
	       -device pcie-root-port,id=hp0,bus=pcie.0,chassis=10,slot=10
	       -qmp "unix:$out/qmp.sock,server=on,wait=off")
	cmdline+=" p2pdma.hotplug=hpnvme"
fi
# A spare memory BAR that no driver claims (ivshmem: 256 MiB, 64-bit,
# prefetchable), for the KUnit tests that register and tear down ranges;
# two x86-64 memory sections, so that a range can straddle them.
args+=(-object memory-backend-ram,id=spare,size=256M
       -device ivshmem-plain,memdev=spare,bus=pcie.0)
i=0
for cmb in ${cmbs//,/ }; do
	img=$out/nvme$i.raw
	truncate -s 64M "$img"
	bus=pcie.0
	if [ "$layout" = switch ]; then
		args+=(-device "xio3130-downstream,id=dp$i,bus=up0,chassis=$((i + 2)),slot=$i")
		bus=dp$i
	fi
	nvme="nvme,serial=p2p$i,drive=d$i,bus=$bus"
	[ "$cmb" = 0 ] || nvme+=",cmb_size_mb=$cmb"
	[ "$i" != 0 ] || nvme+=$pmropt
	if [ "$layout" = hotplug ] && [ "$i" = 0 ]; then
		# A -blockdev outlives device_del (a -drive would be deleted
		# with its device), so device_add can plug the same disk in.
		nvme="nvme,id=hpnvme,serial=p2p$i,drive=d$i,bus=hp0"
		[ "$cmb" = 0 ] || nvme+=",cmb_size_mb=$cmb"
		args+=(-blockdev "driver=file,filename=$img,node-name=d$i" -device "$nvme")
		hotplug=("hpnvme=$nvme")
	elif [ "$i" = 1 ]; then
		# A second namespace, formatted with 8 bytes of metadata
		# holding Type 1 protection information, for PI through nvmet;
		# the first one deallocates what is discarded (reads zeroes).
		truncate -s 48M "$out/nvmepi.raw"
		args+=(-drive "file=$img,if=none,id=d$i,format=raw,discard=unmap"
		       -drive "file=$out/nvmepi.raw,if=none,id=dpi,format=raw"
		       -device "${nvme/drive=d$i,/id=nvme$i,}"
		       -device "nvme-ns,drive=d$i,bus=nvme$i,nsid=1"
		       -device "nvme-ns,drive=dpi,bus=nvme$i,nsid=2,ms=8,pi=1")
	else
		args+=(-drive "file=$img,if=none,id=d$i,format=raw" -device "$nvme")
	fi
	i=$((i + 1))
done

# A function with a memory BAR and an I/O BAR (BAR 1) and no driver, which
# p2pmem_pci_test binds to p2pmem-pci to be refused its I/O BAR.  Last, so
# that it takes no slot an NVMe function had before.
args+=(-device pci-testdev,bus=pcie.0)

# boot_once PHASE: one boot, with logs console-PHASE.log and so on ("" for
# none: console.log).  In phase "kill", QEMU gets SIGKILL as soon as the
# plan says "kill now".  Fails as a whole boot would.
boot_once() {
	local phase=$1 sfx= a=() rc=0 qemu watcher= killer= ktap
	[ -z "$phase" ] || sfx=-$phase
	rm -f "$out/killed$sfx"
	for x in "${args[@]}"; do a+=("${x//@PHASE@/$sfx}"); done
	local append="$cmdline${phase:+ p2pdma.pmr_phase=$phase} ${BOOT_APPEND:-}"
	ktap=$out/ktap$sfx.log
	echo "$qemu_bin ${a[*]} -append '$append'" >"$out/qemu$sfx.cmd"
	timeout -k 10 "$timeout" "$qemu_bin" "${a[@]}" -append "$append" \
		</dev/null >"$out/qemu$sfx.out" 2>&1 &
	qemu=$!
	if [ ${#hotplug[@]} -gt 0 ]; then
		python3 "$TOP/harness/qmp.py" "$out/qmp.sock" "$ktap" "$out/qmp.log" \
			"${hotplug[@]}" &
		watcher=$!
	fi
	if [ "$phase" = kill ]; then
		(
			until grep -q '^P2PDMA-HARNESS: kill now' "$ktap" 2>/dev/null; do
				kill -0 "$qemu" 2>/dev/null || exit 0
				sleep 0.2
			done
			pkill -KILL -P "$qemu" && : >"$out/killed$sfx"
		) &
		killer=$!
	fi
	wait "$qemu" || rc=$?
	for w in $watcher $killer; do
		# It may have ended already, when QEMU closed the socket.
		kill "$w" 2>/dev/null || true
		wait "$w" 2>/dev/null || true
	done
	if [ "$phase" = kill ]; then
		# Only a QEMU that our SIGKILL ended is a killed boot
		if [ -e "$out/killed$sfx" ] && (( rc == 137 )); then
			return 0
		elif ! grep -q '^P2PDMA-HARNESS: kill now' "$ktap" 2>/dev/null; then
			echo "error: $topo ($phase): the guest never said \"kill now\" (qemu exit $rc)" >&2
		else
			echo "error: $topo ($phase): QEMU was not ended by SIGKILL (exit $rc)" >&2
		fi
	elif (( rc == 124 || rc == 137 )); then
		echo "error: $topo${phase:+ ($phase)}: boot timed out after ${timeout}s" >&2
	elif ! grep -q '^P2PDMA-HARNESS: plan complete' "$ktap" 2>/dev/null; then
		echo "error: $topo${phase:+ ($phase)}: the guest did not complete its plan (qemu exit $rc)" >&2
	else
		return 0
	fi
	cat "$out/qemu$sfx.out" >&2
	[ ! -e "$out/console$sfx.log" ] ||
		tail -n 30 "$out/console$sfx.log" | sed 's/^/   | /' >&2
	return 1
}

# The host's side of the PMR barrier test, as one more program's KTAP: in
# QEMU's trace, every barrier the guest counted read PMRSTS (plus one read
# when the PMR was enabled).  Not for the killed boot, whose trace file
# QEMU may not have written out.
pmr_trace_check() { # pmr_trace_check PHASE
	local t=$out/trace-$1.log k=$out/ktap-$1.log reads barriers
	# With or without QEMU's "pid@time:" prefix
	reads=$(grep -cE '(^|:)pci_nvme_mmio_read addr 0xe08 ' "$t" 2>/dev/null || true)
	# The serial port ends its lines with CR LF
	barriers=$(tr -d '\r' <"$k" | sed -n 's/^P2PDMA-HARNESS: pmr barriers \([0-9]*\)$/\1/p' | tail -n1)
	echo "P2PDMA-HARNESS: running pmr_trace_$1"
	echo "TAP version 13"
	echo "1..1"
	if [ -z "$barriers" ]; then
		echo "ok 1 $1: each PMR barrier reads PMRSTS # SKIP the base kernel lacks this (no PMR block device)"
	else
		echo "# the guest counted $barriers barriers (at least 16 expected), QEMU traced $reads PMRSTS reads"
		if (( barriers >= 16 && reads >= barriers + 1 )); then
			echo "ok 1 $1: each PMR barrier reads PMRSTS"
		else
			echo "not ok 1 $1: each PMR barrier reads PMRSTS"
		fi
	fi
	echo "P2PDMA-HARNESS: pmr_trace_$1 exited 0"
}

qemu_bin=$qemu
rc=0
if [ "$pmr" = - ]; then
	boot_once "" || rc=1
else
	: >"$out/console.log"
	: >"$out/ktap.log"
	for phase in write verify kill killed; do
		ok=1
		boot_once "$phase" || { rc=1; ok=0; }
		[ ! -e "$out/console-$phase.log" ] ||
			cat "$out/console-$phase.log" >>"$out/console.log"
		# Only the last boot's "plan complete" says the sequence did
		[ ! -e "$out/ktap-$phase.log" ] ||
			grep -v '^P2PDMA-HARNESS: plan complete' "$out/ktap-$phase.log" >>"$out/ktap.log" || true
		# A failed boot ends the sequence: later phases depend on it
		(( ok )) || break
		[ "$phase" = kill ] || pmr_trace_check "$phase" >>"$out/ktap.log"
	done
	(( rc )) || echo "P2PDMA-HARNESS: plan complete" >>"$out/ktap.log"
fi
rm -f "$out"/nvme*.raw "$out/pmr.img" "$out"/killed*
exit $rc
