#!/usr/bin/env bash
# Source this from a recipe after defining its option variables with defaults:
#   stage=0; stop_stage=100; corpus_dir=
#   . ../../scripts/parse_options.sh
# Every `--some-name VALUE` (or `--some-name=VALUE`) sets the already-defined shell variable some_name.
# An option whose variable is not defined is an error that lists the valid options. `--help` prints them.
__po_defined() { declare -p "$1" >/dev/null 2>&1; }
__po_script="$0"; [ -f "$__po_script" ] || __po_script="$(basename "$0")"
__po_files=("$__po_script")
grep -q "recipe_defaults.sh" "$__po_script" && __po_files+=("$(dirname "${BASH_SOURCE[0]}")/recipe_defaults.sh")
__po_list() {  # the options: variables assigned in the recipe (and its defaults) that exist at parse time
  local name
  for name in $(grep -ohE '^[a-z_][a-z0-9_]*=' "${__po_files[@]}" | tr -d '=' | sort -u); do
    if __po_defined "$name"; then echo "  --${name//_/-}"; fi
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
      break ;;
  esac
  __po_var=$(echo "${__po_name#--}" | tr '-' '_')
  if ! __po_defined "$__po_var"; then
    echo "$0: unknown option $__po_name; valid options:" >&2; __po_list >&2; exit 2
  fi
  printf -v "$__po_var" '%s' "$__po_value"
done
unset -f __po_defined __po_list
