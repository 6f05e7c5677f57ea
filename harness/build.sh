#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Configure and build one kernel: build.sh SRC OBJ FRAGMENT...
# KARCH (default x86_64) and CROSS (the cross compiler's prefix) say for
# what.  The config is tinyconfig + the fragments + olddefconfig, redone
# only when a fragment changes; every option the fragments ask for (the
# last fragment to name an option decides) must survive.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(realpath -m "$1") obj=$(realpath -m "$2")
shift 2
karch=${KARCH:-x86_64} cross=${CROSS:-}
mkdir -p "$obj"
export CCACHE_BASEDIR=$BUILD
kmake() {
	make -C "$src" O="$obj" ARCH="$karch" ${cross:+CROSS_COMPILE="$cross"} \
		${CCACHE:+CC="ccache ${cross}gcc"} "$@"
}
command -v ccache >/dev/null && CCACHE=1
case $karch in
x86_64) image=bzImage ;;
arm64) image=Image ;;
*) die "KARCH=$karch: use x86_64 or arm64" ;;
esac

# "CONFIG_X=v" or "# CONFIG_X is not set": the last line for each option.
wanted() {
	sed -nE 's/^(CONFIG_[A-Za-z0-9_]+)=.*/\1 &/p; s/^# (CONFIG_[A-Za-z0-9_]+) is not set$/\1 &/p' "$@" |
		awk '{ k = $1; sub(/^[^ ]+ /, ""); v[k] = $0; if (!(k in o)) o[k] = n++ }
		     END { for (k in o) print o[k] "\t" v[k] }' | sort -n | cut -f2-
}

stamp=$(cat "$@" | sha1sum | cut -c1-16)
if [ "$(cat "$obj/.fragment" 2>/dev/null)" != "$stamp" ] || [ ! -f "$obj/.config" ]; then
	kmake tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$@"
	kmake olddefconfig
	bad=$(wanted "$@" | while read -r want; do
		case $want in
		"# "*) o=${want#\# }; o=${o%% *}; ! grep -q "^$o=" "$obj/.config" || echo "$want" ;;
		*) grep -qx "$want" "$obj/.config" || echo "$want" ;;
		esac
	done)
	[ -z "$bad" ] || die "options the fragments ask for but Kconfig dropped: $bad"
	echo "$stamp" >"$obj/.fragment"
fi
kmake -j"$(nproc)" "$image"
kmake -j"$(nproc)" modules
kmake INSTALL_MOD_PATH="$obj/mod-install" INSTALL_MOD_STRIP=1 modules_install >/dev/null
kmake INSTALL_HDR_PATH="$obj/usr" headers_install >/dev/null
