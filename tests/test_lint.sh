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
# The embedder refuses a script without its KEYS/ARGV contract.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'return 1\n' > "$tmp/nocontract.lua"
if lua5.4 "$here/../tools/embed.lua" "$tmp/o.c" "$tmp/o.h" "$tmp/nocontract.lua" 2>"$tmp/err"; then
  echo "not ok: embed accepted a script without contract"; fails=$((fails+1))
elif grep -q "KEYS" "$tmp/err"; then echo "ok: embed refuses a script without contract"
else echo "not ok: embed message: $(cat "$tmp/err")"; fails=$((fails+1)); fi
total=7
echo "$((total-fails)) passed, $fails failed"
[ $fails -eq 0 ]
