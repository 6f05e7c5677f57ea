#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare build/linux: the Debian base tree as commit 'base', our series on
# top as one commit per patch (branch 'series').
#
# Incremental: the base is unpacked again only when the tarball changes, and
# the series is rebuilt in a scratch index (so only files whose content
# changes are rewritten in the work tree, which keeps kernel rebuilds small).
# Local work in build/linux is never thrown away: if it holds commits or
# edits that are not in the repository, this refuses and says what to do.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$BUILD/linux
GIT="git -C $SRC"
mkdir -p "$BUILD"

[ -f "$TARBALL" ] || die "$TARBALL missing: install $BASE_PKG (make deps)"
pkgver=$(dpkg-query -W -f='${Version}' "$BASE_PKG" 2>/dev/null || echo unknown)
madeon=$(sed -n 's/^version: *//p' "$TOP/patches/BASE" 2>/dev/null || true)
[ "$pkgver" = "$madeon" ] ||
	echo "note: installed $BASE_PKG is $pkgver, the series was made on ${madeon:-?}"

local_work() {
	[ -n "$($GIT status --porcelain --untracked-files=no)" ] && return 0
	local want
	want=$(cat "$SRC/.git/p2pdma-head" 2>/dev/null || $GIT rev-parse base)
	[ "$($GIT rev-parse HEAD)" != "$want" ]
}

refuse_if_local_work() {
	local_work || return 0
	die "build/linux has work that is not in the repository ($1).
  Carry it back with 'make save' (commits only), or drop it with 'make reset'."
}

# --- the base ---------------------------------------------------------------
basestamp="$pkgver $(stat -c '%s %Y' "$TARBALL")"
if [ "$(cat "$SRC/.git/p2pdma-base" 2>/dev/null)" != "$basestamp" ]; then
	if [ -d "$SRC/.git" ] && [ "${FORCE:-}" != 1 ]; then
		refuse_if_local_work "the base changed"
	fi
	echo ">> unpacking $BASE_PKG $pkgver into build/linux"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	tar -xJf "$TARBALL" -C "$SRC" --strip-components=1
	$GIT init -q -b series
	$GIT config user.name "p2pdma team"
	$GIT config user.email "p2pdma@users.noreply.example"
	$GIT config core.autocrlf false
	$GIT config gc.auto 0
	$GIT add -A -f .
	$GIT commit -q --no-verify -m "Linux $pkgver (Debian $BASE_PKG)"
	$GIT tag -f base >/dev/null
	rm -f "$SRC/.git/p2pdma-series" "$SRC/.git/p2pdma-head"
	echo "$basestamp" >"$SRC/.git/p2pdma-base"
fi

# --- the series -------------------------------------------------------------
want=$(series_hash)
if [ "$(cat "$SRC/.git/p2pdma-series" 2>/dev/null)" = "$want" ] && ! local_work; then
	echo ">> build/linux is up to date (series $want)"
	exit 0
fi
refuse_if_local_work "the series changed"

# An overlay file holds its final state; the patch that adds it gets it
# as it was then: the final state minus the changes of the later patches.
as_added() { # as_added FILE PATCH-INDEX  -> blob
	local f=$1 i=$2 j idx=$SRC/.git/p2pdma-index-file

	GIT_INDEX_FILE=$idx $GIT read-tree --empty
	GIT_INDEX_FILE=$idx $GIT update-index --add \
		--cacheinfo "100644,$($GIT hash-object -w "$TOP/$f"),$f"
	for ((j = ${#names[@]} - 1; j > i; j--)); do
		grep -qxF "diff --git a/$f b/$f" "$TOP/patches/${names[j]}" || continue
		GIT_INDEX_FILE=$idx $GIT apply --cached -R --include="$f" \
			"$TOP/patches/${names[j]}" 2>>"$LOGS/apply.err" ||
			die "$f: cannot undo ${names[j]} to get it as ${names[i]} adds it"
	done
	GIT_INDEX_FILE=$idx $GIT ls-files -s "$f" | cut -d' ' -f2
}
mapfile -t names < <(series_lines | awk '{ print $1 }')

export GIT_INDEX_FILE=$SRC/.git/p2pdma-index
$GIT read-tree base
head=$($GIT rev-parse base)
declare -A assigned=()
n=0

while read -r name files; do
	n=$((n + 1))
	patch=$TOP/patches/$name
	[ -f "$patch" ] || die "patches/series names $name, which does not exist"
	if grep -q '^diff --git ' "$patch" &&
	   ! $GIT apply --cached --whitespace=nowarn "$patch" 2>"$LOGS/apply.err"; then
		echo "error: patch $name does not apply:" >&2
		sed 's/^/  /' "$LOGS/apply.err" >&2
		rej=$(mktemp -d)
		(cd "$rej" && git -C "$SRC" diff --name-only HEAD >/dev/null;
		 $GIT checkout-index -a --prefix="$rej/" 2>/dev/null || true)
		(cd "$rej" && patch -p1 -f --no-backup-if-mismatch -r reject.rej \
			<"$patch" >/dev/null 2>&1 || true; cat reject.rej 2>/dev/null) |
			sed 's/^/  | /' >&2
		rm -rf "$rej"
		exit 1
	fi
	for f in $files; do
		[ -f "$TOP/$f" ] || die "patches/series: $name lists $f, which does not exist"
		mode=100644
		[ -x "$TOP/$f" ] && mode=100755
		blob=$(as_added "$f" $((n - 1)))
		$GIT update-index --add --cacheinfo "$mode,$blob,$f"
		assigned[$f]=1
	done
	msg=$(mktemp)
	info=$(git mailinfo "$msg" /dev/null <"$patch")
	author=$(sed -n 's/^Author: //p' <<<"$info")
	email=$(sed -n 's/^Email: //p' <<<"$info")
	date=$(sed -n 's/^Date: //p' <<<"$info")
	subject=$(sed -n 's/^Subject: //p' <<<"$info")
	tree=$($GIT write-tree)
	head=$({ echo "$subject"; echo; git stripspace <"$msg"; } |
		GIT_AUTHOR_NAME=${author:-p2pdma} GIT_AUTHOR_EMAIL=${email:-p2pdma@invalid} \
		GIT_AUTHOR_DATE=${date:-@0} GIT_COMMITTER_DATE=${date:-@0} \
		$GIT commit-tree "$tree" -p "$head")
	rm -f "$msg"
done < <(series_lines)

missing=$(overlay_files | while read -r f; do [ -n "${assigned[$f]:-}" ] || echo "$f"; done)
[ -z "$missing" ] || die "overlay files not assigned to any patch in patches/series:
$missing"

unset GIT_INDEX_FILE
$GIT checkout -q -B series "$head"
$GIT rev-parse HEAD >"$SRC/.git/p2pdma-head"
echo "$want" >"$SRC/.git/p2pdma-series"
echo ">> build/linux: base + $n patches (series $want)"
