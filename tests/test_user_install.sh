#!/usr/bin/env bash
# kit suite, under tests/with-redis: the recipe of README "Installing as a
# user", command for command, with HOME in a temp dir: meson setup with
# --prefix=$HOME/.local --libdir=lib, meson install, PKG_CONFIG_PATH, PATH and
# MANPATH exported, examples/relay.c built with pkg-config and an rpath, run
# against the test server (tests/test_example_relay.sh checks its story, with
# the installed tool). The build directory is in the temp dir too, so the
# source tree is left as it was.
#   test_user_install.sh SOURCE_DIR
set -u
src=$(cd "$1" && pwd)
: "${TALLY_TEST_URL:?run under tests/with-redis}"
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-user.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "not ok: $*"; fails=$((fails+1)); }
ok() { echo "ok: $*"; }
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR C_INCLUDE_PATH CPATH LIBRARY_PATH LD_LIBRARY_PATH MANPATH
export HOME=$work/home
mkdir "$HOME"
cd "$src" || exit 1

# README: meson setup build-user ...; meson install -C build-user
if meson setup "$work/build-user" --prefix="$HOME/.local" --libdir=lib -Dtests=false >"$work/log" 2>&1 &&
   meson install -C "$work/build-user" >>"$work/log" 2>&1; then
  ok "meson setup --prefix=\$HOME/.local --libdir=lib; meson install"
else
  tail -30 "$work/log"; echo "not ok: the build or install into \$HOME/.local failed"; exit 1
fi
for f in bin/tally include/tally.h lib/libtally.so.0 lib/pkgconfig/tally.pc share/man/man1/tally.1 \
         share/man/man3/libtally.3 share/bash-completion/completions/tally; do
  [ -e "$HOME/.local/$f" ] && ok "installed ~/.local/$f" || fail "nothing at ~/.local/$f"
done

# README: export ...; cc -o relay ...; ./relay URL
export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig" PATH="$HOME/.local/bin:$PATH" MANPATH="$HOME/.local/share/man:"
[ "$(command -v tally)" = "$HOME/.local/bin/tally" ] && ok "tally is ~/.local/bin/tally: $(tally --version)" ||
  fail "tally is '$(command -v tally)'"
[ "$(man -w tally 2>/dev/null)" = "$HOME/.local/share/man/man1/tally.1" ] &&
  [ "$(man -w 3 libtally 2>/dev/null)" = "$HOME/.local/share/man/man3/libtally.3" ] &&
  ok "man finds ~/.local's tally(1) and libtally(3)" || fail "man does not find ~/.local's pages"
# shellcheck disable=SC2046
if cc -o "$work/relay" examples/relay.c $(pkg-config --cflags --libs tally) -Wl,-rpath,"$HOME/.local/lib" 2>"$work/cc.log"; then
  ok "relay.c built with pkg-config ($(pkg-config --cflags --libs tally)) and the rpath"
  lib=$(ldd "$work/relay" | sed -n 's/.*libtally.so.0 => \([^ ]*\).*/\1/p')
  [ "$lib" = "$HOME/.local/lib/libtally.so.0" ] && ok "relay loads ~/.local/lib/libtally.so.0, no LD_LIBRARY_PATH" ||
    fail "relay loads libtally.so.0 from '$lib'"
  "$src/tests/test_example_relay.sh" "$work/relay" "$(command -v tally)" | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" -eq 0 ] && ok "relay tells its story" || fail "relay does not tell its story"
else
  fail "relay.c does not build: $(cat "$work/cc.log")"
fi
echo "$fails failed"
[ $fails -eq 0 ]
