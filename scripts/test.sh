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

# fuzz_one PKG TARGET runs one target for $fuzztime. Go 1.26's fuzz coordinator can fail a
# target with a bare "context deadline exceeded" when the -fuzztime deadline races its worker
# shutdown (golang/go#75804, fixed in Go 1.27): no input fails and nothing is written to
# testdata/fuzz. Only that exact outcome is retried, up to four times (it hit 2 of 34 targets in
# one CI run here); any real finding — a failing input, a panic, a new file under testdata/fuzz —
# fails at once.
fuzz_one() {
  local pkg=$1 t=$2 dir log=/tmp/opengba-fuzz.log attempt before after
  dir="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$t"
  for attempt in 1 2 3 4 5; do
    before=$(ls "$dir" 2>/dev/null | sort || true)
    if go test -run='^$' -fuzz="^${t}\$" -fuzztime="$fuzztime" "$pkg" >"$log" 2>&1; then
      return 0
    fi
    after=$(ls "$dir" 2>/dev/null | sort || true)
    if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" &&
      ! grep -qE 'Failing input written|panic:|^ +[A-Za-z0-9_]+_test\.go:[0-9]+:' "$log" &&
      [ "$attempt" -lt 5 ]; then
      echo "   (attempt $attempt hit the Go fuzz coordinator's deadline race, golang/go#75804; retrying)"
      continue
    fi
    cat "$log"; echo "fuzz target $pkg $t failed"; exit 1
  done
}

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
        fuzz_one "$pkg" "$t"
        targets=$((targets + 1))
      done
      pkg_targets=() ;;
  esac
done < <(go test -list '^Fuzz' ./... 2>&1)
echo "fuzz smoke: ${targets} targets passed"
