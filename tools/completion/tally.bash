# bash completion for tally(1), installed by meson into
# share/bash-completion/completions/tally. Commands, subcommands, options and
# option values are read from the tool's own --help, so they never drift from
# what the tool accepts; `scripts show` completes the embedded scripts' names.

# _tally_help TALLY [COMMAND]: the help text (the tool prints it fast, offline).
_tally_help() {
  "$1" ${2:+"$2"} --help 2>/dev/null
}

_tally() {
  local tally=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=
  [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}
  tally=${tally/#\~/$HOME}
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    local commands
    commands=$(_tally_help "$tally" | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  local cmd=${COMP_WORDS[1]} help
  help=$(_tally_help "$tally" "$cmd")
  if [ "$cmd" = scripts ] && [ "$prev" = show ]; then
    COMPREPLY=($(compgen -W "$("$tally" scripts list 2>/dev/null | awk '/^[a-z]/ { print $1 }')" -- "$cur"))
    return
  fi
  # Values written in the help as --option a|b|c
  if [[ $prev == -* ]]; then
    local values
    values=$(grep -oE -- "$prev [a-z]+(\|[a-z]+)+" <<<"$help" | head -1 | cut -d' ' -f2 | tr '|' ' ')
    if [ -n "$values" ]; then
      COMPREPLY=($(compgen -W "$values" -- "$cur"))
      return
    fi
  fi
  # Subcommands: the words right after "tally COMMAND " in the usage lines
  # ("tally scripts list|show NAME|load|...", "tally lease acquire ...").
  if [ "$COMP_CWORD" -eq 2 ] && [[ $cur != -* ]]; then
    local subs
    subs=$(grep -oE -- "tally $cmd [a-z][^[]*" <<<"$help" | sed "s/^tally $cmd //" | tr '|' '\n' |
           awk '{ print $1 }' | grep -E '^[a-z]+$' | sort -u)
    if [ -n "$subs" ]; then
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
      return
    fi
  fi
  COMPREPLY=($(compgen -W "$(grep -oE -- '(^|[^a-z-])--?[a-z][a-z-]*' <<<"$help" | grep -oE -- '--?[a-z][a-z-]*' | sort -u)" -- "$cur"))
}
complete -F _tally tally
