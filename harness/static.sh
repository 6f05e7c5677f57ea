#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Static checks of the series: static.sh SRC OBJ
# KARCH (default x86_64) and CROSS say which architecture OBJ was built
# for.  Writes one "PASS|FAIL|SKIP name[: why]" line per check to
# build/logs/static-KARCH.results (read by results.py) and details to the
# log.  The checks of the series' text (checkpatch, the export, kernel-doc,
# coccicheck) run unless TEXT_CHECKS=0 (run.sh runs them with one
# architecture's kernel); sparse and W=1 for every architecture.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

src=$1 obj=$2
karch=${KARCH:-x86_64} cross=${CROSS:-}
kmake() { make -C "$src" O="$obj" ARCH="$karch" ${cross:+CROSS_COMPILE="$cross"} "$@"; }
# checkpatch runs spdxcheck.py with python3: use Debian's, which has python3-ply.
export PATH=/usr/bin:$PATH
out=$LOGS/static-$karch.results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$out"
result() { echo "$*" >>"$out"; echo "== $*"; }
# Names of checks other than checkpatch's carry the architecture's.
tag=
[ "$karch" = x86_64 ] || tag=" ($karch)"
GIT="git -C $src"

git -C "$src" format-patch -q -o "$tmp/series" base..series
patches=$(ls "$tmp/series" 2>/dev/null)
# The series' kernel sources (not the selftests, which are userspace).
files=$($GIT diff --name-only --diff-filter=AM base series -- '*.c' '*.h' |
	grep -v '^tools/' || true)

text_checks=${TEXT_CHECKS:-1}

# Warnings of a check, without line numbers, so that a file's warnings can
# be compared with those of its base version.
strip_lines() { sed -E 's/:[0-9]+(:[0-9]+)?:/:/' "$@" | sort -u; }

# The warnings @f adds over its base version (all of them for a new file).
new_warnings() { # new_warnings FILE SERIES-OUTPUT BASE-OUTPUT
	strip_lines "$2" >"$tmp/w.series"
	strip_lines "$3" >"$tmp/w.base"
	comm -23 "$tmp/w.series" "$tmp/w.base"
}

# 3. kernel-doc -Wall on the series' C files and headers: no new warnings.
((text_checks)) && for f in $files; do
	(cd "$src" && scripts/kernel-doc -none -Wall "$f") >"$tmp/kd" 2>&1
	: >"$tmp/kd.base"
	if $GIT cat-file -e "base:$f" 2>/dev/null; then
		mkdir -p "$tmp/base/$(dirname "$f")"
		$GIT show "base:$f" >"$tmp/base/$f"
		(cd "$tmp/base" && "$src/scripts/kernel-doc" -none -Wall "$f") >"$tmp/kd.base" 2>&1
	fi
	new=$(new_warnings "$f" "$tmp/kd" "$tmp/kd.base")
	if [ -z "$new" ]; then
		result "PASS kernel-doc $f"
	else
		echo "$new"
		result "FAIL kernel-doc $f: $(echo "$new" | wc -l) new warnings"
	fi
done

if ((text_checks)); then
# 1. checkpatch --strict on every patch.
for p in $patches; do
	if (cd "$src" && scripts/checkpatch.pl --strict --quiet \
			--ignore FILE_PATH_CHANGES "$tmp/series/$p" >"$tmp/cp" 2>&1) ||
	   ! grep -qE '^(ERROR|WARNING|CHECK)' "$tmp/cp"; then
		result "PASS checkpatch $p"
	else
		cat "$tmp/cp"
		result "FAIL checkpatch $p: $(grep -cE '^(ERROR|WARNING|CHECK)' "$tmp/cp") findings"
	fi
done

# 2. git am of the exported series onto base gives the same tree.
export GIT_INDEX_FILE=$tmp/index
$GIT read-tree base
ok=1
for p in $patches; do
	$GIT apply --cached "$tmp/series/$p" || { ok=0; echo "does not apply: $p"; break; }
done
if ((ok)) && [ "$($GIT write-tree)" = "$($GIT rev-parse 'series^{tree}')" ]; then
	result "PASS exported series reproduces the tree"
else
	result "FAIL exported series reproduces the tree"
fi
unset GIT_INDEX_FILE
fi

# 4. sparse, with the compiler's W=1 warnings, on every object the series
# touches: no warnings in its files (the object's own source or any header
# the series changes).
series_re=$(echo $files | sed 's/\./\\./g; s/ /|/g')
for f in $files; do
	case $f in *.c) ;; *) continue ;; esac
	o=${f%.c}.o
	grep -q "^obj-.*\b$(basename "$o")\b" "$src/$(dirname "$f")/Makefile" 2>/dev/null ||
		[ -f "$obj/$o" ] || continue
	# The kernel build made every object this config builds: an object
	# it did not make is for options the guest config leaves out.
	if [ ! -f "$obj/$o" ]; then
		result "SKIP sparse and W=1$tag $f: not built by this kernel config"
		continue
	fi
	kmake C=2 W=1 "$o" >"$tmp/sp" 2>&1
	if ! grep -q "CHECK .*$f\$" "$tmp/sp"; then
		cat "$tmp/sp"
		result "FAIL sparse and W=1$tag $f: sparse did not run"
	elif grep -E "^([^ ]*/)?($series_re):[0-9]+:[0-9]+: (warning|error)" "$tmp/sp"; then
		result "FAIL sparse and W=1$tag $f"
	else
		result "PASS sparse and W=1$tag $f"
	fi
done
# The objects were rebuilt with W=1: let the next kernel build redo them.
for f in $files; do case $f in *.c) rm -f "$obj/${f%.c}.o" ;; esac; done

# 5. coccicheck's semantic patches (report mode) on the series' C files,
# run with spatch directly so that one pass covers all files; scripts that
# need OCaml (not packaged with Debian's spatch) are left out.  Only
# reports a file adds over its base version count.
spatch_run() { # spatch_run DIR SCRIPT FILE...  (report lines, relative paths)
	local dir=$1 c=$2 opts
	shift 2
	opts=$(sed -n 's|^//* *Options: *||p' "$c" | head -1)
	(cd "$dir" && spatch -D report --no-show-diff --very-quiet --cocci-file "$c" $opts \
		-I "$src/arch/x86/include" -I "$obj/arch/x86/include/generated" \
		-I "$src/include" -I "$obj/include" -I "$src/arch/x86/include/uapi" \
		-I "$obj/arch/x86/include/generated/uapi" -I "$src/include/uapi" \
		-I "$obj/include/generated/uapi" \
		--include "$src/include/linux/compiler-version.h" \
		--include "$src/include/linux/kconfig.h" "$@" 2>/dev/null) |
		grep -E '^[^ ]+\.c:[0-9]+' || true
}
cocci() { # cocci DIR FILE...  (report lines, relative paths)
	local dir=$1 c f out
	shift
	for c in $(find "$src/scripts/coccinelle" -name '*.cocci' | sort | xargs grep -L ocaml); do
		out=$(spatch_run "$dir" "$c" "$@")
		[ -n "$out" ] || continue
		if (($# == 1)); then
			echo "$out"
			continue
		fi
		# spatch takes the files of one run as a group, whose rules may
		# bind in one file and report in another (orplus.cocci does):
		# keep only what a file reports on its own.
		for f in $(echo "$out" | cut -d: -f1 | sort -u); do
			spatch_run "$dir" "$c" "$f"
		done
	done
}
cfiles=$(for f in $files; do case $f in *.c) echo "$f" ;; esac; done)
if ! ((text_checks)); then
	:
elif ! command -v spatch >/dev/null; then
	result "SKIP coccicheck: coccinelle is not installed"
elif [ -n "$cfiles" ]; then
	cocci "$src" $cfiles >"$tmp/cc"
	for f in $cfiles; do
		grep "^$f:" "$tmp/cc" >"$tmp/cc.f" || true
		: >"$tmp/cc.base"
		if [ -s "$tmp/cc.f" ] && [ -f "$tmp/base/$f" ]; then
			cocci "$tmp/base" "$f" >"$tmp/cc.base"
		fi
		new=$(new_warnings "$f" "$tmp/cc.f" "$tmp/cc.base")
		if [ -z "$new" ]; then
			result "PASS coccicheck $f"
		else
			echo "$new"
			result "FAIL coccicheck $f: $(echo "$new" | wc -l) new reports"
		fi
	done
fi
exit 0
