#!/usr/bin/env bash
# OpenGBA test command (README.md "Run the tests"): formatting, vet, the race-enabled test
# suite, then a short smoke run of every fuzz target.
#   FUZZTIME=10s scripts/test.sh   # longer fuzz smoke
#   SKIP_FUZZ=1 scripts/test.sh    # tests only
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-3s}

echo "== gofmt -l"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files:"; echo "$unformatted"; exit 1
fi

echo "== go vet ./..."
go vet ./...

echo "== go test -race ./..."
go test -race -count=1 -timeout 20m ./...

if [ -n "${SKIP_FUZZ:-}" ]; then
  echo "== fuzz smoke skipped (SKIP_FUZZ set)"
  exit 0
fi

echo "== fuzz smoke (${fuzztime} per target)"
# `go test -list` prints the matching names of a package, then "ok <pkg> …".
targets=0
pkg_targets=()
while IFS= read -r line; do
  case "$line" in
    Fuzz*) pkg_targets+=("$line") ;;
    ok*)
      pkg=$(awk '{print $2}' <<<"$line")
      for t in "${pkg_targets[@]}"; do
        echo "-- $pkg $t"
        go test -run='^$' -fuzz="^${t}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/opengba-fuzz.log 2>&1 || {
          cat /tmp/opengba-fuzz.log; echo "fuzz target $pkg $t failed"; exit 1; }
        targets=$((targets + 1))
      done
      pkg_targets=() ;;
  esac
done < <(go test -list '^Fuzz' ./... 2>&1)
echo "fuzz smoke: ${targets} targets passed"
