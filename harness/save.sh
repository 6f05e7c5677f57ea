#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Carry the commits of build/linux (base..HEAD) back into the repository:
# each commit becomes patches/NNNN-subject.patch with its changes to files
# the base owns; files it adds (or that patches/owned lists as wholly ours)
# go to the overlay at their kernel paths, in their final state, listed
# after the name of the first patch that touches them in patches/series;
# later patches carry their changes to such files as diffs (prepare.sh
# works out the file as the first patch had it).  Uncommitted edits in
# build/linux are refused, not lost.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$BUILD/linux
GIT="git -C $SRC"
[ -d "$SRC/.git" ] || die "no build/linux: run 'make prepare' first"
[ -z "$($GIT status --porcelain --untracked-files=no)" ] ||
	die "build/linux has uncommitted edits: commit them there first"

stray=$($GIT ls-files --others --ignored --exclude-standard -- ':!*.orig' ':!*.rej' | head -5)
[ -z "$stray" ] || echo "note: new files in build/linux that no commit holds (Debian's
  .gitignore hides everything new; add them with 'git add -f'):
$stray"

[ "$(series_hash)" = "$(cat "$SRC/.git/p2pdma-series" 2>/dev/null)" ] ||
	die "patches/ or the overlay changed since build/linux was prepared; saving
  would overwrite those edits. Commit them in build/linux instead, or drop
  the build/linux commits with 'make reset'."

owned() {
	grep -qxF "$1" "$TOP/patches/owned" 2>/dev/null && return 0
	! $GIT cat-file -e "base:$1" 2>/dev/null
}

new=$(mktemp -d)
trap 'rm -rf "$new"' EXIT
declare -A seen=()
n=0
: >"$new/series"
for c in $($GIT rev-list --reverse base..HEAD); do
	n=$((n + 1))
	name=$(printf '%04d-%s.patch' "$n" "$($GIT log -1 --format=%f "$c" | cut -c1-52)")
	ours=() theirs=()
	# A file the overlay holds enters the series whole with the first
	# commit that touches it; later commits carry their changes to it as
	# diffs, like changes to base files, so that every patch builds.
	while IFS= read -r f; do
		if [ -z "${seen[$f]:-}" ] && owned "$f"; then
			ours+=("$f")
		else
			theirs+=("$f")
		fi
	done < <($GIT diff-tree -r --no-commit-id --name-only "$c")
	{
		$GIT log -1 --format='From: %an <%ae>%nDate: %aD%nSubject: [PATCH] %s%n%n%b' "$c"
		if ((${#theirs[@]})); then
			echo "---"
			$GIT diff --stat=72 "$c^" "$c" -- "${theirs[@]}"
			echo
			$GIT diff --full-index "$c^" "$c" -- "${theirs[@]}"
		fi
	} >"$new/$name"
	line=$name
	for f in "${ours[@]}"; do
		seen[$f]=1
		$GIT cat-file -e "HEAD:$f" 2>/dev/null && line+=" $f"
	done
	echo "$line" >>"$new/series"
done

# Only now touch the repository: overlay files from HEAD, then the patches.
for f in "${!seen[@]}"; do
	if $GIT cat-file -e "HEAD:$f" 2>/dev/null; then
		mkdir -p "$(dirname "$TOP/$f")"
		$GIT show "HEAD:$f" >"$TOP/$f"
		[ "$($GIT ls-tree HEAD -- "$f" | cut -c1-6)" = 100755 ] && chmod +x "$TOP/$f"
	else
		rm -f "$TOP/$f"
	fi
done
overlay_files | while read -r f; do
	[ -n "${seen[$f]:-}" ] || { echo "removing $f (no longer in build/linux)"; rm -f "$TOP/$f"; }
done
rm -f "$TOP"/patches/*.patch
cp "$new"/*.patch "$TOP/patches/" 2>/dev/null || true
{ echo "# Applied in order by harness/prepare.sh: PATCH [OVERLAY FILES it adds]"; cat "$new/series"; } \
	>"$TOP/patches/series"
$GIT rev-parse HEAD >"$SRC/.git/p2pdma-head"
series_hash >"$SRC/.git/p2pdma-series"
echo ">> saved $n commits of build/linux into patches/ and the overlay"
