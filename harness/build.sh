#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Configure and build one kernel: build.sh SRC OBJ FRAGMENT...
# The config is tinyconfig + the fragments + olddefconfig, redone only when a
# fragment changes; every option a fragment asks for must survive.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(realpath -m "$1") obj=$(realpath -m "$2")
shift 2
mkdir -p "$obj"
export CCACHE_BASEDIR=$BUILD
kmake() { make -C "$src" O="$obj" ${CCACHE:+CC="ccache gcc"} "$@"; }
command -v ccache >/dev/null && CCACHE=1

stamp=$(cat "$@" | sha1sum | cut -c1-16)
if [ "$(cat "$obj/.fragment" 2>/dev/null)" != "$stamp" ] || [ ! -f "$obj/.config" ]; then
	kmake tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$@"
	kmake olddefconfig
	bad=$(cat "$@" | grep -E '^CONFIG_[A-Z0-9_]+=' | while read -r want; do
		grep -qx "$want" "$obj/.config" || echo "$want"
	done)
	[ -z "$bad" ] || die "options the fragments ask for but Kconfig dropped: $bad"
	echo "$stamp" >"$obj/.fragment"
fi
kmake -j"$(nproc)" bzImage
kmake -j"$(nproc)" modules
kmake INSTALL_MOD_PATH="$obj/mod-install" INSTALL_MOD_STRIP=1 modules_install >/dev/null
kmake INSTALL_HDR_PATH="$obj/usr" headers_install >/dev/null
