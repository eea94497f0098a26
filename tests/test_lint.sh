#!/usr/bin/env bash
# lint suite: the scripts, as assembled and sent (contract header, shared
# prelude, body), pass the Redis-dialect linters; scripts that break the rules
# are rejected with the linter's message; the tool shows exactly the assembled
# bytes; every helper is defined once.
#   test_lint.sh TALLY_BIN ASSEMBLED_SCRIPT...
set -u
here=$(cd "$(dirname "$0")" && pwd)
lint="$here/../tools/lint-lua"
tally=$1; shift
fails=0 total=0
ok() { total=$((total+1)); echo "ok: $*"; }
not_ok() { total=$((total+1)); fails=$((fails+1)); echo "not ok: $*"; }
check() { # expect(pass|fail) needle file...
  local expect=$1 needle=$2; shift 2
  out=$("$lint" "$@" 2>&1); rc=$?
  if [ "$expect" = pass ] && [ $rc -ne 0 ]; then not_ok "$* should pass: $out"; return; fi
  if [ "$expect" = fail ] && [ $rc -eq 0 ]; then not_ok "$* should be rejected"; return; fi
  if [ -n "$needle" ] && ! grep -q -- "$needle" <<<"$out"; then not_ok "$* message lacks '$needle': $out"; return; fi
  ok "$expect $*"
}
check pass "" "$@"
check fail "setting non-standard global variable" "$here/lint/sets_global.lua"
check fail "not Lua 5.1" "$here/lint/uses_goto.lua"
check fail "accessing undefined variable 'os'" "$here/lint/uses_os.lua"
check fail "accessing undefined variable 'print'" "$here/lint/uses_print.lua"
check fail "read-only field" "$here/lint/writes_redis.lua"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Each assembled script is its source's contract header, a blank line and the
# prelude (the same for all), then the rest of its source; `tally scripts show`
# prints those bytes.
first_prelude=
for sent in "$@"; do
  name=$(basename "$sent" .lua) src="$here/../lua/$name.lua"
  base=$(sed -n 's/^-- Body: \([a-z_]*\.lua\)$/\1/p' "$src")
  if [ -n "$base" ]; then
    # built from another script (peek.lua from allow.lua): its own header, then
    # the other's from its KEYS[ line on, and the other's body
    { grep -v '^-- Body: ' "$src"; sed -n '/^-- KEYS\[/,$p' "$here/../lua/$base"; } > "$tmp/src.$name"
    src="$tmp/src.$name"
  fi
  header=$(awk '!/^(#!|--)/ { exit } { print }' "$src" | wc -l)
  body_start=$((header + 1))
  prelude_lines=$(( $(wc -l < "$sent") - $(wc -l < "$src") ))
  head -n "$header" "$src" > "$tmp/want"
  tail -n +"$body_start" "$sent" | head -n "$prelude_lines" > "$tmp/prelude.$name"
  tail -n +"$body_start" "$src" >> "$tmp/want"
  { head -n "$header" "$sent"; tail -n +$((body_start + prelude_lines)) "$sent"; } > "$tmp/got"
  if ! cmp -s "$tmp/want" "$tmp/got"; then not_ok "$name: assembled script is not header + prelude + body"
  elif ! sed -n 2p "$tmp/prelude.$name" | grep -q "^-- Prelude"; then not_ok "$name: no prelude after the header"
  elif [ -n "$first_prelude" ] && ! cmp -s "$tmp/prelude.$name" "$first_prelude"; then not_ok "$name: prelude differs"
  else ok "$name: contract header, shared prelude, body"; fi
  first_prelude=${first_prelude:-$tmp/prelude.$name}
  if "$tally" scripts show "$name" > "$tmp/shown" && cmp -s "$tmp/shown" "$sent"; then
    ok "$name: 'tally scripts show' prints exactly the assembled bytes"
  else not_ok "$name: 'tally scripts show' differs from the assembled script"; fi
done
# No helper is defined twice: not in two scripts, not in a script and lua/lib.
defs=$(cd "$here/../lua" && grep -ohE '^(local )?function [A-Za-z_.:]+' ./*.lua lib/*.lua |
       sed -E 's/^(local )?function (lib\.)?//' | sort | uniq -d)
if [ -z "$defs" ]; then ok "every Lua helper is defined once"; else not_ok "defined twice: $defs"; fi
# The embedder refuses a script without its KEYS/ARGV contract, or with a
# malformed or repeated entry, naming the problem, and a bound that Lua's
# doubles cannot hold exactly.
embed_rejects() { # name needle script-text
  printf '%s' "$3" > "$tmp/$1.lua"
  if lua5.4 "$here/../tools/embed.lua" "$tmp/o.c" "$tmp/o.h" "$tmp/$1.lua" 2>"$tmp/err"; then
    not_ok "embed accepted $1"
  elif grep -q -- "$2" "$tmp/err"; then ok "embed refuses $1"
  else not_ok "embed message for $1: $(cat "$tmp/err")"; fi
}
embed_rejects nocontract "KEYS" $'return 1\n'
embed_rejects noreturns "Returns" $'-- s\n-- KEYS[1] a: x\n-- ARGV[1] b: y\nreturn 1\n'
embed_rejects badentry "KEYS\\[position\\] name: description" $'-- s\n-- KEYS[1] the key\n-- ARGV[1] b: y\n-- Returns: 1\nreturn 1\n'
embed_rejects twice "'b' appears twice" $'-- s\n-- KEYS[1] a: x\n-- ARGV[1] b: y\n-- ARGV[2] b: z\n-- Returns: 1\nreturn 1\n'
# ... and turns a good header into entries, continuation lines included.
printf '%s' $'#!lua\n-- Sum.\n-- KEYS[1..] counters: the hashes\n--   to add to.\n-- ARGV[1] n: how much.\n-- Returns: the sum.\n-- A note.\nreturn 1\n' > "$tmp/good.lua"
if lua5.4 "$here/../tools/embed.lua" "$tmp/o.c" "$tmp/o.h" "$tmp/good.lua" 2>"$tmp/err" &&
   grep -qF '{ "1..", "counters", "the hashes to add to." }' "$tmp/o.c" &&
   grep -qF '{ "1", "n", "how much." }' "$tmp/o.c" && grep -qF '.returns = "the sum."' "$tmp/o.c" &&
   grep -qF '.notes = "A note."' "$tmp/o.c"; then
  ok "embed reads a good contract entry by entry"
else not_ok "embed output for a good contract: $(cat "$tmp/err")"; fi
printf '#define TALLY_HUGE 9007199254740993LL\n' > "$tmp/huge.h"
cp "$tmp/good.lua" "$tmp/s.lua"
if lua5.4 "$here/../tools/embed.lua" assemble "$tmp" "$tmp/huge.h" -- -- "$tmp/s.lua" 2>"$tmp/err"; then
  not_ok "embed accepted a bound above 2^53"
elif grep -q "TALLY_HUGE" "$tmp/err"; then ok "embed refuses a bound above 2^53"
else not_ok "embed message: $(cat "$tmp/err")"; fi
echo "$((total-fails)) passed, $fails failed"
[ $fails -eq 0 ]
