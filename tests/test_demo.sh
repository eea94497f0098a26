#!/usr/bin/env bash
# kit: tools/demo-job, as tools/demo runs it, against the test server: exits 0;
# its headings "== N. ..." come in order with trend, models, metrics and the
# exporter among them, as do the library's six jobs "-- N. ..."; every line
# that looks like JSON parses and has only snake_case keys; no SHA table and
# no project-history words; the exporter was scraped (tally_up 1) and stopped.
# Then again with a curl that fails mid-scrape: the demo fails, and its trap
# still stops the exporter.
#   test_demo.sh DEMO_JOB BUILD_DIR   (under tests/with-redis)
set -u
job=$1 build=$2
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "not ok: $*"; fails=$((fails + 1)); }
# The pids of the demo's exporter, found by the unique prefix the demo printed
# in output file $1 (none: nothing printed); status 1 when no prefix was printed.
exporter_of() {
  local prefix
  prefix=$(sed -n 's/^tally demo: every command below also gets --prefix \([^,]*\),.*/\1/p' "$1")
  [ -n "$prefix" ] || return 1
  # /proc, not pgrep (procps is not on a fresh Debian 12): a process with both
  # the argument "exporter" and the demo's prefix (this grep has only the latter)
  local f
  for f in $(grep -lzxF -- "$prefix" /proc/[0-9]*/cmdline 2>/dev/null); do
    grep -qzx exporter "$f" 2>/dev/null && { f=${f#/proc/}; echo "${f%/cmdline}"; }
  done
  return 0
}
# ok when the demo of output file $1 left no exporter running (killed if it did).
no_exporter_left() {
  local pids
  if ! pids=$(exporter_of "$1"); then fail "$2: no prefix in the demo's output"
  elif [ -z "$pids" ]; then ok "$2"
  else fail "$2: exporter $pids left running"; kill $pids; fi
}

"$job" "$build" >"$dir/out" 2>"$dir/err"; code=$?
sed 's/^/    /' "$dir/out"
[ $code -eq 0 ] && ok "demo-job exited 0" || fail "demo-job exited $code: $(cat "$dir/err")"

want="1 scripts|2 record|3 stats|4 models|5 trend|6 top|7 rate limit|8 budget|9 prices|10 metrics|11 exporter|12 library"
got=$(sed -n 's/^== \([0-9]*\)\. \([a-z ]*\):.*/\1 \2/p' "$dir/out" | paste -sd'|')
[ "$got" = "$want" ] && ok "headings in order: $got" || fail "headings '$got', want '$want'"
got=$(sed -n 's/^-- \([0-9]\)\. .*/\1/p' "$dir/out" | paste -sd' ')
[ "$got" = "1 2 3 4 5 6" ] && ok "the library's jobs in order: $got" || fail "the library's jobs: '$got'"

# Lines starting with { or [ are JSON; no key in them is camelCase (data such
# as the model names of a price table may have hyphens, never capitals).
python3 - "$dir/out" <<'PY' && ok "every JSON line parses, no camelCase key" || fail "JSON lines (above)"
import json, re, sys
bad, n = 0, 0
def keys(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from keys(x)
    elif isinstance(v, list):
        for x in v:
            yield from keys(x)
for line in open(sys.argv[1]):
    if not line.startswith(("{", "[")):
        continue
    n += 1
    try:
        v = json.loads(line)
    except ValueError as e:
        print("not JSON (%s): %s" % (e, line.rstrip())); bad += 1; continue
    for k in keys(v):
        if re.search(r"[A-Z]", k):
            print("key %r is camelCase: %s" % (k, line.rstrip())); bad += 1
print("%d JSON lines" % n)
sys.exit(1 if bad or n < 20 else 0)
PY

grep -qE '^[0-9]+ scripts loaded, SHA verified, on 1 node$' "$dir/out" && ok "scripts: one summary line" ||
  fail "no scripts summary line"
! grep -qE '[0-9a-f]{40}' "$dir/out" && ok "no SHA table" || fail "a SHA1 is printed"
! grep -qiwE 'seed|seeds|issue' "$dir/out" && ok "no project-history words" || fail "'seed' or 'issue' in the output"
grep -qx 'tally_up 1' "$dir/out" && grep -qE '^tally_requests_total [1-9]' "$dir/out" &&
  grep -qE '^\(metrics scraped: [1-9][0-9]* series\)$' "$dir/out" && ok "the exporter was scraped" ||
  fail "no metrics scraped from the exporter"
grep -qx 'exporter stopped' "$dir/out" && ok "the demo says it stopped the exporter" ||
  fail "no 'exporter stopped'"
no_exporter_left "$dir/out" "no exporter left running"

# A scrape that fails: set -e ends the demo there, the EXIT trap stops the exporter.
mkdir "$dir/bin"
printf '#!/bin/sh\nexit 7\n' >"$dir/bin/curl"; chmod +x "$dir/bin/curl"
PATH="$dir/bin:$PATH" "$job" "$build" >"$dir/out2" 2>"$dir/err2"; code=$?
grep -q '^tally exporter: listening on ' "$dir/out2" && [ $code -ne 0 ] &&
  ok "a failed scrape fails the demo (exit $code)" || fail "a failed scrape: exit $code"
no_exporter_left "$dir/out2" "the trap stopped the exporter"

[ $fails -eq 0 ] && echo "all ok" || echo "$fails failed"
exit $((fails > 0))
