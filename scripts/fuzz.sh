#!/usr/bin/env bash
# Runs every fuzz target of every module but bench/ briefly (FUZZTIME each, default 5s).
# Usage: scripts/fuzz.sh [fuzztime]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fuzztime=${1:-${FUZZTIME:-5s}}
status=0

# module_of prints the directory of the go.mod that owns dir.
module_of() {
  local d=$1
  while [ ! -f "$d/go.mod" ]; do d=$(dirname "$d"); done
  echo "$d"
}

while IFS=: read -r file name; do
  dir=$(dirname "$file")
  mod=$(module_of "$dir")
  rel=./${dir#"$mod"}
  rel=${rel#./}; rel=./${rel#/}
  echo "== fuzz $dir $name ($fuzztime)"
  if ! (cd "$root/$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$rel"); then
    status=1
  fi
done < <(grep -rHo --include='*_test.go' -E '^func (Fuzz[A-Za-z0-9_]+)' . | grep -v '^./bench/' | sed -E 's/:func /:/')
exit $status
