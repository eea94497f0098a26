#!/usr/bin/env bash
# lint suite: libtally's units call each other without a cycle and in the
# order of its layers (c/layers): no unit calls or includes one of a layer
# above its own. Prints the unit graph (tools/unit-graph, from the objects'
# defined and undefined symbols and the sources' #include lines), and checks
# that the tool does reject a cycle, a call up and an include up, on small
# objects built here.
#   test_unit_graph.sh UNIT-GRAPH LIBTALLY.a LAYERS
set -u
graph=$1 lib=$2 layers=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
if "$graph" --layers "$layers" "$lib"; then echo "ok: the units of $(basename "$lib") form no cycle and keep the layers of $layers"
else echo "not ok: the units of $(basename "$lib") call each other in a cycle or against the layers (above)"; fails=$((fails+1)); fi
printf 'int pong(int);\nint ping(int n) { return n ? pong(n - 1) : 0; }\n' > "$tmp/ping.c"
printf 'int ping(int);\nint pong(int n) { return n ? ping(n - 1) : 1; }\n' > "$tmp/pong.c"
printf 'int ping(int);\nint top(void) { return ping(3); }\n' > "$tmp/top.c"
(cd "$tmp" && cc -c ping.c pong.c top.c && ar rc cyclic.a ping.o pong.o top.o) || exit 1
if out=$("$graph" "$tmp/cyclic.a" 2>&1); then echo "not ok: a ping <-> pong cycle passed: $out"; fails=$((fails+1))
elif grep -q "cycle among ping, pong" <<<"$out" && grep -q "top *-> ping" <<<"$out"; then echo "ok: a ping <-> pong cycle is found"
else echo "not ok: unexpected output for a cycle: $out"; fails=$((fails+1)); fi

# Layers: low below high. high calls low (down: fine); low then calls high, or
# includes high.h, and either is refused; a unit of no layer is refused too.
mkdir "$tmp/up" && cd "$tmp/up" || exit 1
printf 'int low(void);\n' > low.h
printf 'int high(void);\n' > high.h
printf '#include "low.h"\nint high(void) { return low() + 1; }\n' > high.c
printf '#include "low.h"\nint low(void) { return 0; }\n' > low.c
printf 'low: low\nhigh: high\n' > layers
cc -c low.c high.c && ar rc ok.a low.o high.o || exit 1
if out=$("$graph" --layers layers ok.a 2>&1); then echo "ok: a call down a layer passes"
else echo "not ok: a call down a layer was refused: $out"; fails=$((fails+1)); fi
printf '#include "low.h"\nint high(void);\nint low(void) { return high() - 1; }\n' > low.c
cc -c low.c && ar rc up.a low.o high.o || exit 1
if out=$("$graph" --layers layers up.a 2>&1); then echo "not ok: a call up a layer passed: $out"; fails=$((fails+1))
elif grep -q "low (low) calls high (high), a layer above it" <<<"$out"; then echo "ok: a call up a layer is found"
else echo "not ok: unexpected output for a call up: $out"; fails=$((fails+1)); fi
printf '#include "low.h"\n#include "high.h"\nint low(void) { return 0; }\n' > low.c
cc -c low.c && ar rc inc.a low.o high.o || exit 1
if out=$("$graph" --layers layers inc.a 2>&1); then echo "not ok: an include up a layer passed: $out"; fails=$((fails+1))
elif grep -q "low (low) includes high (high), a layer above it" <<<"$out"; then echo "ok: an include up a layer is found"
else echo "not ok: unexpected output for an include up: $out"; fails=$((fails+1)); fi
printf 'int stray(void) { return 2; }\n' > stray.c
cc -c stray.c && ar rc stray.a low.o high.o stray.o || exit 1
if out=$("$graph" --layers layers stray.a 2>&1); then echo "not ok: a unit of no layer passed: $out"; fails=$((fails+1))
elif grep -q "unit stray stands in no layer" <<<"$out"; then echo "ok: a unit of no layer is found"
else echo "not ok: unexpected output for a unit of no layer: $out"; fails=$((fails+1)); fi
exit $fails
