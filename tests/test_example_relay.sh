#!/usr/bin/env bash
# kit: examples/relay.c run twice in a row against one server prints the same
# both times (each run has a key of its own), and tells its story: 4 requests
# served, the 5th refused by the budget without using a rate-limit unit, so the
# 6th is still served, the 7th refused by the rate limit; tally stats agrees.
#   test_example_relay.sh RELAY TALLY   (under tests/with-redis)
set -u
relay=$1 bin=$2
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "not ok: $*"; fails=$((fails + 1)); }

for run in 1 2; do
  "$relay" "$TALLY_TEST_URL" >"$dir/out$run" 2>"$dir/err$run"; code=$?
  [ $code -eq 0 ] && ok "run $run exited 0" || fail "run $run exited $code: $(cat "$dir/err$run")"
done
sed 's/^/    /' "$dir/out1"
if cmp -s "$dir/out1" "$dir/out2"; then ok "the second run printed what the first did"
else fail "the runs differ:"; diff "$dir/out1" "$dir/out2" | sed 's/^/    /'; fi
key1=$(sed -n 's/^relay: key //p' "$dir/err1") key2=$(sed -n 's/^relay: key //p' "$dir/err2")
[ -n "$key1" ] && [ "$key1" != "$key2" ] && ok "each run has its own key ($key1, $key2)" ||
  fail "keys '$key1' and '$key2'"

out=$(cat "$dir/out1")
grep -A1 '^req-5:' <<<"$out" | grep -q 'refused (402): daily budget, .*; no rate-limit unit used' &&
  ok "req-5 refused by the budget" || fail "req-5 was not refused by the budget"
grep -A2 '^req-6:' <<<"$out" | grep -q 'rate limits: allowed, 0 of 5 left (rate limit 1, 5/1m' &&
  ok "req-6 served with the 5th unit: req-5 used none" || fail "req-6 did not get the last rate-limit unit"
grep -A1 '^req-7:' <<<"$out" | grep -q 'refused (429): rate limit 1 (5/1m' &&
  ok "req-7 refused by the rate limit" || fail "req-7 was not refused by the rate limit"
[ "$(grep -c '^  settled$' <<<"$out")" = 5 ] && ok "5 requests settled" || fail "not 5 requests settled"
grep -qx 'today, this key: 5 requests, 8300 tokens, \$0.0465' <<<"$out" && ok "the summary line" ||
  fail "the summary line"
stats=$(TALLY_URL=$TALLY_TEST_URL "$bin" stats --key "$key1" --period today --json)
for want in '"requests":5' '"total_tokens":8300' '"cost_nanos":46500000'; do
  [[ $stats == *"$want"* ]] || fail "tally stats --key $key1: no $want in $stats"
done
echo "$fails failed"
[ $fails -eq 0 ]
