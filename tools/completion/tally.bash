# bash completion for tally(1), installed by meson into
# share/bash-completion/completions/tally. Commands, subcommands, options and
# option values are read from the tool's own --help, so they never drift from
# what the tool accepts: values written as a|b|c, files where the help says
# FILE (`prices load FILE`), nothing for a free value (ID, N, MS, ...);
# `scripts show` completes the embedded scripts' names.

# _tally_help TALLY [COMMAND]: the help text (the tool prints it fast, offline).
_tally_help() {
  "$1" ${2:+"$2"} --help 2>/dev/null
}

# _tally_files: the files and directories matching the current word.
_tally_files() {
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
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
  # The value of an option, as its help writes it after the option: a|b|c
  # offers those words (not the day:.. forms), FILE offers files, any other
  # placeholder (ID, N, MS, ±HH:MM, [HOST]:PORT, ...) nothing: the value is
  # the user's. An option with none of these after it is a flag.
  if [[ $prev == -* ]]; then
    local after value
    after=$(grep -oE -- "(^|[^a-zA-Z-])$prev [^ ,;)]+" <<<"$help" | sed 's/^.* //')
    value=$(grep -m1 -F '|' <<<"$after" || grep -m1 -E '^([A-Z]|±|\[[A-Z])' <<<"$after")
    case $value in
      *'|'*)
        COMPREPLY=($(compgen -W "$(tr -d ']' <<<"$value" | tr '|' '\n' | grep -E '^[a-z][a-z-]*$')" -- "$cur"))
        return ;;
      FILE)
        _tally_files
        return ;;
      ?*)
        return ;;
    esac
  fi
  # A subcommand's argument: files for FILE ("prices load FILE"), nothing for
  # another placeholder ("prices show MODEL")
  if [[ $prev != -* ]] && [ "$COMP_CWORD" -eq 3 ]; then
    case $(grep -oE -- "(^|[ |])$prev [A-Z][A-Z_]*" <<<"$help" | head -1 | sed 's/^.* //') in
      FILE) _tally_files; return ;;
      ?*) return ;;
    esac
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
