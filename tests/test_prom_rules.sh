#!/usr/bin/env bash
# kit suite: docs/prometheus/'s rules pass `promtool check rules`, their unit
# tests pass `promtool test rules`, every alert has a test, and every tally_*
# metric the rules read is one that `tally exporter` serves (so the rules
# cannot drift from the exposition). Runs under tests/with-redis.
#   test_prom_rules.sh TALLY_BIN RULES TESTS
set -u
tally=$1 rules=$2 tests=$3
: "${TALLY_TEST_URL:?run under tests/with-redis}"
fails=0
fail() { echo "not ok: $*"; fails=$((fails+1)); }
ok() { echo "ok: $*"; }

if out=$(promtool check rules "$rules" 2>&1); then ok "promtool check rules: ${out//$'\n'/ }"
else fail "promtool check rules: $out"; fi
if out=$(promtool test rules "$tests" 2>&1); then ok "promtool test rules"
else fail "promtool test rules: $out"; fi

for alert in $(sed -n 's/^ *- alert: *//p' "$rules"); do
  grep -q "alertname: $alert\$" "$tests" || fail "alert $alert has no test in $(basename "$tests")"
done

# One scrape of a real exporter with one event recorded.
"$tally" record --url "$TALLY_TEST_URL" --key k --model m --input 1 --cost 0.5 >/dev/null || fail "tally record"
exec 4< <(exec "$tally" exporter --url "$TALLY_TEST_URL" --listen 127.0.0.1:0 2>/dev/null)
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
read -r -t 30 line <&4 # it prints where it listens once it does
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/metrics|\1|p' <<<"${line:-}")
[ -n "$port" ] || { fail "the exporter did not say where it listens: '${line:-}'"; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
scrape=$(cat <&3)
exec 3<&-
# metric names: not the recording rules' (level:metric:operation) nor tally_*
read_=0
for metric in $(grep -oP '\btally_[a-z_]*[a-z](?![a-z_:*])' "$rules" | sort -u); do
  read_=$((read_+1))
  if grep -q "^$metric[ {]" <<<"$scrape"; then ok "the exporter serves $metric"
  else fail "the rules read $metric, which the exporter does not serve"; fi
done
[ $read_ -ge 5 ] || fail "only $read_ metric names found in the rules"

[ $fails -eq 0 ] && echo "all ok" || echo "$fails failed"
[ $fails -eq 0 ]
