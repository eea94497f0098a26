#!/usr/bin/env bash
# lint suite: libtally.so exports exactly the functions tally.h declares -- no
# internal tally__* symbol, no data, nothing else.
#   test_abi.sh LIBTALLY.so TALLY.h
set -u
lib=$1 header=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Declared: every identifier followed by '(' in the header once comments are gone.
cc -E -P "$header" | grep -oE '\btally_[a-z0-9_]+[[:space:]]*\(' | tr -d ' (' | sort -u > "$tmp/declared"
# Exported: every symbol the shared library defines in its dynamic table.
nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u > "$tmp/exported"
[ -s "$tmp/declared" ] || { echo "not ok: no function found in $header"; exit 1; }
[ -s "$tmp/exported" ] || { echo "not ok: nm -D found no symbol in $lib"; exit 1; }
fails=0
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$extra" ]; then echo "not ok: exported but not in tally.h:"; echo "$extra" | sed 's/^/  /'; fails=1
else echo "ok: every exported symbol is a tally.h function ($(wc -l < "$tmp/exported") symbols)"; fi
if [ -n "$missing" ]; then echo "not ok: declared in tally.h but not exported:"; echo "$missing" | sed 's/^/  /'; fails=1
else echo "ok: every tally.h function is exported ($(wc -l < "$tmp/declared") functions)"; fi
exit $fails
