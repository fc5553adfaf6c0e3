#!/usr/bin/env bash
# Source this from a recipe after defining its option variables with defaults:
#   stage=0; stop_stage=100; corpus_dir=
#   . ../../scripts/parse_options.sh
# Every `--some-name VALUE` (or `--some-name=VALUE`) sets the already-defined shell variable some_name.
# An option whose variable is not defined is an error that lists the valid options. `--help` prints them.
# The default decides the kind of value an option takes:
#   true or false  a boolean: true/false, yes/no or 1/0 (any case), stored as true or false
#   an integer     an integer (leading zeros dropped)
#   anything else  any text
# A value of the wrong kind, or an argument that is not an option, is an error naming the option (exit 2), and
# so is a stage range (stage, stop_stage) that is negative or empty.
__po_defined() { declare -p "$1" >/dev/null 2>&1; }
__po_script="$0"; [ -f "$__po_script" ] || __po_script="$(basename "$0")"
__po_files=("$__po_script")
grep -q "recipe_defaults.sh" "$__po_script" && __po_files+=("$(dirname "${BASH_SOURCE[0]}")/recipe_defaults.sh")
__po_kind() {  # bool, int or text: the kind of the value variable $1 holds now (its default)
  case "${!1}" in
    true|false) echo bool ;;
    *) if [[ "${!1}" =~ ^-?[0-9]+$ ]]; then echo int; else echo text; fi ;;
  esac
}
__po_list() {  # the options: variables assigned in the recipe (and its defaults) that exist at parse time
  local name
  for name in $(grep -ohE '^[a-z_][a-z0-9_]*=' "${__po_files[@]}" | tr -d '=' | sort -u); do
    if __po_defined "$name"; then
      case "$(__po_kind "$name")" in
        bool) echo "  --${name//_/-} true|false (default ${!name})" ;;
        int) echo "  --${name//_/-} N (default ${!name})" ;;
        *) echo "  --${name//_/-} VALUE (default '${!name}')" ;;
      esac
    fi
  done
}
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "usage: $0 [options]"; echo "options:"; __po_list; exit 0 ;;
    --*=*)
      __po_name="${1%%=*}"; __po_value="${1#*=}"; shift ;;
    --*)
      __po_name="$1"
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 2; fi
      __po_value="$2"; shift 2 ;;
    *)
      echo "$0: unexpected argument '$1'; options look like --name VALUE (see $0 --help)" >&2; exit 2 ;;
  esac
  __po_var=$(echo "${__po_name#--}" | tr '-' '_')
  if ! [[ "$__po_var" =~ ^[a-z][a-z0-9_]*$ ]] || ! __po_defined "$__po_var"; then
    echo "$0: unknown option $__po_name; valid options:" >&2; __po_list >&2; exit 2
  fi
  case "$(__po_kind "$__po_var")" in
    bool)
      case "$(echo "$__po_value" | tr '[:upper:]' '[:lower:]')" in
        true|yes|1) __po_value=true ;;
        false|no|0) __po_value=false ;;
        *) echo "$0: option $__po_name takes true or false (or yes/no, 1/0), got '$__po_value'" >&2; exit 2 ;;
      esac ;;
    int)
      if ! [[ "$__po_value" =~ ^(-?)0*([0-9]+)$ ]]; then
        echo "$0: option $__po_name takes an integer, got '$__po_value'" >&2; exit 2
      fi
      __po_value="${BASH_REMATCH[1]}${BASH_REMATCH[2]}" ;;
  esac
  printf -v "$__po_var" '%s' "$__po_value"
done
if __po_defined stage && __po_defined stop_stage; then
  if [ "$stage" -lt 0 ]; then echo "$0: --stage must be at least 0, got $stage" >&2; exit 2; fi
  if [ "$stop_stage" -lt "$stage" ]; then
    echo "$0: --stop-stage $stop_stage is before --stage $stage: no stage to run" >&2; exit 2
  fi
fi
unset -f __po_defined __po_list __po_kind
unset __po_name __po_value __po_var __po_script __po_files
