#!/usr/bin/env bash
# Runs every fuzz target of the module briefly (FUZZTIME each, default 5s).
# Usage: scripts/fuzz.sh [fuzztime]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-5s}}
status=0
while IFS=: read -r file name; do
  dir=./$(dirname "$file")
  echo "== fuzz $dir $name ($fuzztime)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir"; then
    status=1
  fi
done < <(grep -rHo --include='*_test.go' -E '^func (Fuzz[A-Za-z0-9_]+)' . | grep -v '^./bench/' | sed -E 's/:func /:/')
exit $status
