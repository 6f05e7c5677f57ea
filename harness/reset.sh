#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Drop everything in build/linux that is not in the repository (commits
# after the applied series, uncommitted edits) and apply the series anew.
# Keeps a backup branch of what was dropped, so nothing is really lost.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$BUILD/linux
GIT="git -C $SRC"
[ -d "$SRC/.git" ] || exec "$TOP/harness/prepare.sh"
if [ -n "$($GIT status --porcelain --untracked-files=no)" ]; then
	$GIT stash push -q -m "make reset $(date -Is)"
	echo ">> uncommitted edits kept in: git -C build/linux stash list"
fi
b=dropped-$(date +%Y%m%d-%H%M%S)
$GIT branch "$b" HEAD
echo ">> the old HEAD is kept as branch $b in build/linux"
$GIT rev-parse HEAD >"$SRC/.git/p2pdma-head"
rm -f "$SRC/.git/p2pdma-series"
exec "$TOP/harness/prepare.sh"
