#!/usr/bin/env bash
# kit suite: the man pages render without warnings, tally(1) covers every
# command and option that `tally --help` and `tally COMMAND --help` list, and
# libtally(3) covers every function tally.h declares (with tally_admission.h).
#   test_man.sh TALLY_BIN TALLY_1 LIBTALLY_3 HEADER...
set -u
tally=$1 page1=$2 page3=$3; shift 3
fails=0
fail() { echo "not ok: $*"; fails=$((fails+1)); }
ok() { echo "ok: $*"; }

render() { # page -> plain text on stdout; groff's warnings on stderr
  LC_ALL=C MANWIDTH=200 MAN_KEEP_FORMATTING= man --warnings -l "$1" | col -bx
}
text1=$(render "$page1" 2>"${TMPDIR:-/tmp}/tally-man.$$") || fail "man cannot render tally(1)"
text3=$(render "$page3" 2>>"${TMPDIR:-/tmp}/tally-man.$$") || fail "man cannot render libtally(3)"
if [ -s "${TMPDIR:-/tmp}/tally-man.$$" ]; then fail "groff warnings: $(cat "${TMPDIR:-/tmp}/tally-man.$$")"
else ok "both pages render without warnings"; fi
rm -f "${TMPDIR:-/tmp}/tally-man.$$"

for section in NAME SYNOPSIS DESCRIPTION "COMMON OPTIONS" COMMANDS "EXIT STATUS" ENVIRONMENT EXAMPLES "SEE ALSO"; do
  grep -qx "$section" <<<"$text1" || fail "tally(1) has no $section section"
done
for section in NAME SYNOPSIS DESCRIPTION CONVENTIONS "RESULT CODES" EXAMPLE "SEE ALSO"; do
  grep -qx "$section" <<<"$text3" || fail "libtally(3) has no $section section"
done

# Every command of `tally --help` has its own subsection, and every option of
# its --help appears in the page.
commands=$("$tally" --help | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
[ "$(wc -w <<<"$commands")" -ge 10 ] || fail "could not read the commands from tally --help: $commands"
for cmd in $commands; do
  if grep -qx "   $cmd" <<<"$text1"; then ok "tally(1) has a section for $cmd"
  else fail "tally(1) has no section for '$cmd'"; fi
  for opt in $("$tally" "$cmd" --help | grep -oE -- '(^|[^a-z-])--?[a-z][a-z-]*' | grep -oE -- '--?[a-z][a-z-]*' | sort -u); do
    grep -qe "$opt\\b" <<<"$text1" || fail "tally(1) does not mention $cmd's option $opt"
  done
done
for opt in $("$tally" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
  grep -qe "$opt" <<<"$text1" || fail "tally(1) does not mention the common option $opt"
done
for code in $("$tally" --help | awk '/^exit status:/ { on = 1; next } on && $1 ~ /^[0-9]+$/ { print $1 }'); do
  sed -n '/^EXIT STATUS$/,/^ENVIRONMENT$/p' <<<"$text1" | grep -qx "       $code" || fail "tally(1) does not explain exit status $code"
done

# Every function of the public headers is in libtally(3).
for fn in $(grep -ohE '\btally_[a-z0-9_]+\(' "$@" | tr -d '(' | sort -u); do
  grep -q "\\b$fn(" <<<"$text3" || fail "libtally(3) does not mention $fn()"
done
ok "checked $(wc -w <<<"$commands") commands and the functions of $*"
echo "$fails failed"
[ $fails -eq 0 ]
