#!/usr/bin/env bash
# kit suite: the bash completion (tools/completion/tally.bash) offers every
# command, each command's options and subcommands, the values written as
# a|b|c in the help (nothing for a free value such as ID or N), files where
# the help says FILE, and the scripts' names after `scripts show`.
#   test_completion.sh TALLY_BIN COMPLETION_FILE
set -u
tally=$1
# shellcheck source=/dev/null
source "$2"
fails=0
complete_line() { # words... -> the completions of the last word, one line
  COMP_WORDS=("$tally" "$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  _tally
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() { # "words" "expected completions"
  local got
  read -ra words <<<"$1"
  [ "${1: -1}" = " " ] && words+=("")
  got=$(complete_line "${words[@]}")
  if [ "$got" = "$2" ]; then echo "ok: tally $1-> $got"
  else echo "not ok: tally $1-> '$got', expected '$2'"; fails=$((fails+1)); fi
}
expects() { # "words" "completions that must be among them"
  local got w
  read -ra words <<<"$1"
  [ "${1: -1}" = " " ] && words+=("")
  got=" $(complete_line "${words[@]}") "
  for w in $2; do
    [[ $got == *" $w "* ]] || { echo "not ok: tally $1-> lacks $w ($got)"; fails=$((fails+1)); return; }
  done
  echo "ok: tally $1-> has $2"
}
commands=$("$tally" --help | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
[ "$(wc -w <<<"$commands")" -ge 10 ] || { echo "not ok: no commands found in tally --help"; fails=$((fails+1)); }
expects " " "$commands --version --help"
expect "s" "scripts settle stats"
expect "ex" "exporter"
expect "record --ca" "--cache-create --cache-read"
expect "record --mi" "--missing-price-zero"
expect "prices " "list load show"
expect "reserve --mo" "--model"
expect "top --by " "cost requests tokens"
expect "trend --by " "day hour month"
expect "metrics --format " "json prometheus text"
expect "scripts " "flush list load show verify"
expect "lease " "acquire release renew"
expect "scripts show re" "read record reserve"
expect "exporter --li" "--listen"
expect "stats --read-from " "primary replica"
# values of every kind of option (issue 23): a|b|c words, none for a free value
expect "stats --period " "hour month today total"
expect "models --period " "month today total"
expect "top --window " "month today total"
expect "trend --metric " "cost requests tokens"
expect "allow --algo " "fixed gcra sliding-log sliding-window"
expect "limits --algo sliding-" "sliding-log sliding-window"
expect "allow --key " ""
expect "record --at " ""
expect "top -n " ""
expect "exporter --listen " ""
expect "prices show " ""
expects "allow --fail-open --" "--key --limit"
expects "record --stdin --" "--missing-price-zero --url"
expects "report --" "--account --key --by --per --format"
expect "report --acc" "--account"
expect "report --account " ""
# files where the help says FILE
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
touch "$dir/prices.json" "$dir/prices-old.json" "$dir/other.txt"
expect "prices load $dir/pr" "$dir/prices-old.json $dir/prices.json"
expect "prices load $dir/o" "$dir/other.txt"
expects "top --re" "--read-from"
expects "allow --" "--key --limit --algo --burst --tokens --cost --fail-open --fail-closed --limits-url --url --json"
for cmd in $commands; do
  expects "$cmd --" "--help --url"
done
echo "$fails failed"
[ $fails -eq 0 ]
