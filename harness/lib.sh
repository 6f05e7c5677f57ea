# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the harness scripts: paths, step timing, logging.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
LOGS=$BUILD/logs
TARBALL=${TARBALL:-/usr/src/linux-source-6.12.tar.xz}
BASE_PKG=linux-source-6.12
mkdir -p "$LOGS"

die() { echo "error: $*" >&2; exit 1; }

# step NAME LOG CMD...: run CMD with output in build/logs/LOG.log, print
# the step name, a dot every 30 s and the elapsed time; on failure print
# the log's tail and fail.
step() {
	local name=$1 log=$LOGS/$2.log start=$SECONDS rc=0 pid
	shift 2
	printf '>> %-44s' "$name"
	"$@" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		(( (SECONDS - start) % 30 == 0 )) && printf '.'
	done
	wait "$pid" || rc=$?
	if (( rc )); then
		printf ' FAILED after %ds (log: %s)\n' $((SECONDS - start)) "${log#$TOP/}"
		tail -n 40 "$log" | sed 's/^/   | /'
		return "$rc"
	fi
	printf ' %4ds\n' $((SECONDS - start))
}

# Files of the overlay: everything in the repository that is not the
# harness itself, at its kernel path.
overlay_files() {
	(cd "$TOP" && env -u GIT_INDEX_FILE git ls-files --cached --others --exclude-standard) |
		{ grep -vE '^(Makefile|README\.md|\.gitignore|harness/|patches/|\.ci/|build/)' || true; } |
		while read -r f; do if [ -f "$TOP/$f" ]; then echo "$f"; fi; done | sort -u
}

# Lines of patches/series: "NAME [OVERLAY-FILE ...]", '#' starts a comment.
series_lines() {
	[ -f "$TOP/patches/series" ] || return 0
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series"
}

# A hash of everything that makes up the series.
series_hash() {
	{
		series_lines
		(cd "$TOP" && { ls patches/*.patch 2>/dev/null || true; overlay_files; } |
			xargs -r sha1sum)
	} | sha1sum | cut -c1-16
}

# The line of topology NAME in harness/topologies (empty if unknown), and
# the names of all topologies, or of those of one architecture.
topology_line() {
	awk -v t="$1" '!/^#/ && $1 == t' "$TOP/harness/topologies"
}
topology_names() { # topology_names [ARCH]
	awk -v a="${1:-}" '!/^#/ && NF && (a == "" || $2 == a) { print $1 }' \
		"$TOP/harness/topologies" | xargs
}
