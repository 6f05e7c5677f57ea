#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest initramfs: initramfs.sh OBJ KSFT_DIR OUT
# busybox-static (BUSYBOX, default the host's /bin/busybox) + our init and plan + the statically linked kselftests in
# KSFT_DIR (their list of tests in KSFT_DIR/tests) + modules, if any.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

obj=$1 ksft=$2 out=$3
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,opt/p2pdma,lib/modules}
bb=${BUSYBOX:-/bin/busybox}
cp "$bb" "$root/bin/busybox"
file -L "$bb" | grep -q 'statically linked' || die "$bb is not static (install busybox-static)"
cp "$TOP/harness/guest/init" "$root/init"
cp "$TOP/harness/guest/plan.sh" "$root/plan.sh"
cp -a "$ksft"/. "$root/opt/p2pdma/"
[ -d "$obj/mod-install/lib/modules" ] && cp -a "$obj/mod-install/lib/modules/." "$root/lib/modules/"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
