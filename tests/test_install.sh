#!/usr/bin/env bash
# kit suite, under tests/with-redis: `meson install --destdir` into a temp dir,
# then, using only that tree:
#   - the installed tool runs; man finds and renders tally(1) and libtally(3);
#     the bash completion is in place;
#   - examples/relay.c and the EXAMPLE of libtally(3) compile with nothing but
#     `pkg-config --cflags --libs tally` (PKG_CONFIG_PATH and the sysroot point
#     into the temp dir), include the installed tally.h, link the installed
#     libtally.so, and run against the test server with the outcome their text
#     promises, which `tally stats` then confirms.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
: "${TALLY_TEST_URL:?run under tests/with-redis}"
dest=$(mktemp -d "${TMPDIR:-/tmp}/tally-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT
fails=0
fail() { echo "not ok: $*"; fails=$((fails+1)); }
ok() { echo "ok: $*"; }

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$dest/install.log" 2>&1 ||
  { cat "$dest/install.log"; echo "not ok: meson install failed"; exit 1; }
find_one() { find "$dest" -path "$1" | head -1; }
bin=$(find_one '*/bin/tally')
pc=$(find_one '*/pkgconfig/tally.pc')
for f in '*/bin/tally' '*/include/tally.h' '*/libtally.so' '*/libtally.a' '*/pkgconfig/tally.pc' \
         '*/man/man1/tally.1' '*/man/man3/libtally.3' '*/bash-completion/completions/tally'; do
  [ -n "$(find_one "$f")" ] && ok "installed $f" || fail "nothing installed at $f"
done
[ -n "$bin" ] && [ -n "$pc" ] || { echo "$fails failed"; exit 1; }

version=$("$bin" --version) && [[ $version == "tally "* ]] && ok "installed tool: $version" ||
  fail "the installed tool does not run: $version"

# man, reading only the installed tree
mandir=$(dirname "$(dirname "$(find_one '*/man/man1/tally.1')")")
page=$(LC_ALL=C MANPATH=$mandir man -w tally)
[[ $page == "$dest"/* ]] && ok "man -w tally: $page" || fail "man found tally(1) at '$page', not in the installed tree"
LC_ALL=C MANPATH=$mandir MANWIDTH=100 man tally 2>/dev/null | grep -q "tally - usage statistics" &&
  ok "man tally renders" || fail "man tally does not render"
example3=$(LC_ALL=C MANPATH=$mandir MANWIDTH=200 man 3 libtally 2>/dev/null | col -bx |
           sed -n '/^EXAMPLE$/,/^SEE ALSO$/p' | sed -n '/^ \{11\}/s/^ \{11\}//p')
grep -q "int main" <<<"$example3" && ok "man 3 libtally has its example" || fail "no example in man 3 libtally"

# completion
(source "$(find_one '*/bash-completion/completions/tally')" && complete -p tally >/dev/null) &&
  ok "the installed completion registers for tally" || fail "the installed completion does not load"

# pkg-config, pointed into the installed tree only
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs tally) || fail "pkg-config --cflags --libs tally failed"
[[ $flags == *"-I$dest"* && $flags == *"-L$dest"* ]] && ok "pkg-config: $flags" ||
  fail "pkg-config flags do not point into the installed tree: $flags"
libdir=$(pkg-config --variable=libdir tally)

build_and_check() { # name source -> $dest/name
  # shellcheck disable=SC2086
  if cc -H -o "$dest/$1" "$2" $flags 2>"$dest/$1.log"; then
    grep -q "^\. $dest/.*/tally.h" "$dest/$1.log" && ok "$1 compiled against the installed tally.h" ||
      fail "$1 did not include the installed tally.h: $(grep tally.h "$dest/$1.log")"
    LD_LIBRARY_PATH=$libdir ldd "$dest/$1" | grep -q "libtally.so.* => $dest" &&
      ok "$1 links the installed libtally.so" || fail "$1 does not load the installed libtally.so"
  else
    fail "$1 does not compile: $(cat "$dest/$1.log")"
  fi
}
build_and_check relay "$src/examples/relay.c"
printf '%s\n' "$example3" > "$dest/example3.c"
build_and_check example3 "$dest/example3.c"

# The example's run: 4 requests served, the 5th refused by the budget, the 6th
# served, the 7th refused by the rate limit; tally stats agrees with what it printed.
key=installed-$$
out=$(LD_LIBRARY_PATH=$libdir "$dest/relay" "$TALLY_TEST_URL" "$key" 2>&1); code=$?
echo "$out" | sed 's/^/    /'
[ $code -eq 0 ] && ok "relay exited 0" || fail "relay exited $code"
grep -A3 '^req-5:' <<<"$out" | grep -q 'refused (402): daily budget' && ok "req-5 refused by the budget" ||
  fail "req-5 was not refused by the budget"
grep -A1 '^req-7:' <<<"$out" | grep -q 'refused (429): rate limit 1' && ok "req-7 refused by the rate limit" ||
  fail "req-7 was not refused by the rate limit"
[ "$(grep -c '^  settled$' <<<"$out")" = 5 ] && ok "5 requests settled" || fail "not 5 requests settled"
grep -qx "today, this key: 5 requests, 8300 tokens, \$0.0465" <<<"$out" || fail "relay's summary line"
stats=$(TALLY_URL=$TALLY_TEST_URL "$bin" stats --key "$key" --period today --json)
for want in '"requests":5' '"total_tokens":8300' '"cost_nanos":46500000'; do
  [[ $stats == *"$want"* ]] || fail "tally stats --key $key: no $want in $stats"
done
[[ $stats == *'"cost_nanos":46500000'* ]] && ok "tally stats agrees: $stats"

# The man page's example: records one event and prints the key's day.
out=$(TALLY_URL=$TALLY_TEST_URL LD_LIBRARY_PATH=$libdir "$dest/example3" 2>&1); code=$?
[ $code -eq 0 ] && [ "$out" = "1 requests, \$0.0123 today" ] && ok "libtally(3)'s example: $out" ||
  fail "libtally(3)'s example exited $code: $out"

echo "$fails failed"
[ $fails -eq 0 ]
