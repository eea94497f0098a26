#!/usr/bin/env bash
# lint suite: the project's scripts pass the Redis-dialect linters, and scripts that
# break the rules are rejected with the linter's message.
set -u
here=$(cd "$(dirname "$0")" && pwd)
lint="$here/../tools/lint-lua"
fails=0
check() { # expect(pass|fail) needle file...
  local expect=$1 needle=$2; shift 2
  out=$("$lint" "$@" 2>&1); rc=$?
  if [ "$expect" = pass ] && [ $rc -ne 0 ]; then echo "not ok: $* should pass: $out"; fails=$((fails+1)); return; fi
  if [ "$expect" = fail ] && [ $rc -eq 0 ]; then echo "not ok: $* should be rejected"; fails=$((fails+1)); return; fi
  if [ -n "$needle" ] && ! grep -q -- "$needle" <<<"$out"; then echo "not ok: $* message lacks '$needle': $out"; fails=$((fails+1)); return; fi
  echo "ok: $expect $*"
}
check pass "" "$here"/../lua/*.lua
check fail "setting non-standard global variable" "$here/lint/sets_global.lua"
check fail "not Lua 5.1" "$here/lint/uses_goto.lua"
check fail "accessing undefined variable 'os'" "$here/lint/uses_os.lua"
check fail "accessing undefined variable 'print'" "$here/lint/uses_print.lua"
check fail "read-only field" "$here/lint/writes_redis.lua"
# The embedder refuses a script without its KEYS/ARGV contract, or with a
# malformed or repeated entry, naming the problem.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
embed_rejects() { # name needle script-text
  printf '%s' "$3" > "$tmp/$1.lua"
  if lua5.4 "$here/../tools/embed.lua" "$tmp/o.c" "$tmp/o.h" "$tmp/$1.lua" 2>"$tmp/err"; then
    echo "not ok: embed accepted $1"; fails=$((fails+1))
  elif grep -q -- "$2" "$tmp/err"; then echo "ok: embed refuses $1"
  else echo "not ok: embed message for $1: $(cat "$tmp/err")"; fails=$((fails+1)); fi
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
  echo "ok: embed reads a good contract entry by entry"
else echo "not ok: embed output for a good contract: $(cat "$tmp/err")"; fails=$((fails+1)); fi
total=11
echo "$((total-fails)) passed, $fails failed"
[ $fails -eq 0 ]
