#!/usr/bin/env bash
# lint suite: libtally's units call each other without a cycle. Prints the unit
# graph (tools/unit-graph, from the objects' defined and undefined symbols), and
# checks that the tool does reject a cycle, on two objects built here.
#   test_unit_graph.sh UNIT-GRAPH LIBTALLY.a
set -u
graph=$1 lib=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
if "$graph" "$lib"; then echo "ok: the units of $(basename "$lib") form no cycle"
else echo "not ok: the units of $(basename "$lib") call each other in a cycle (above)"; fails=$((fails+1)); fi
printf 'int pong(int);\nint ping(int n) { return n ? pong(n - 1) : 0; }\n' > "$tmp/ping.c"
printf 'int ping(int);\nint pong(int n) { return n ? ping(n - 1) : 1; }\n' > "$tmp/pong.c"
printf 'int ping(int);\nint top(void) { return ping(3); }\n' > "$tmp/top.c"
(cd "$tmp" && cc -c ping.c pong.c top.c && ar rc cyclic.a ping.o pong.o top.o) || exit 1
if out=$("$graph" "$tmp/cyclic.a" 2>&1); then echo "not ok: a ping <-> pong cycle passed: $out"; fails=$((fails+1))
elif grep -q "cycle among ping, pong" <<<"$out" && grep -q "top *-> ping" <<<"$out"; then echo "ok: a ping <-> pong cycle is found"
else echo "not ok: unexpected output for a cycle: $out"; fails=$((fails+1)); fi
exit $fails
