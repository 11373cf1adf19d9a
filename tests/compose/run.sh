#!/usr/bin/env bash
# End-to-end test of the docker-compose lab (docker-compose.yml):
#   1. build the images (scripts/build-images.sh)
#   2. compose up -d (hss-init, hss-sim, bsf, naf, ue)
#   3. wait until hss-sim, bsf and naf are healthy (bounded)
#   4. the ue one-shot exited 0, and the MAF holds its Kmr: look it up as the IN-CSE from the
#      host (127.0.0.1) and compare with the Kmr the UE printed (--show-keys --json)
#   5. stop hss-sim: a second ue run fails with the BSF's 503 (exit status 3)
#   6. start hss-sim: once the BSF has reconnected (bounded), the next ue run succeeds
#   7. compose down (volumes kept), up -d again: hss-init skips the subscriber already in
#      the store (--skip-existing, exit 0) and the ue one-shot enrols again
#   8. compose down -v, always (trap)
# One line per step; exit status 0 only if every step passed.
#
#   tests/compose/run.sh
#   SKIP_BUILD=1 tests/compose/run.sh          # reuse the images already built
#   KEEP_LAB=1 tests/compose/run.sh            # leave the lab running (no down -v)
#   COMPOSE="docker-compose" tests/compose/run.sh
# The lab runs as compose project $LAB_PROJECT (default opengba-labtest) on host ports
# 28080-29091 (LAB_* variables), so a lab started by hand on the default ports is not
# disturbed. Needs docker with Compose v2 or docker-compose >= 1.29, curl, base64, od.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

project=${LAB_PROJECT:-opengba-labtest}
export OPENGBA_TAG=${OPENGBA_TAG:-lab}
export LAB_HSS_API_PORT=${LAB_HSS_API_PORT:-28080}
export LAB_BSF_UB_PORT=${LAB_BSF_UB_PORT:-28081}
export LAB_BSF_OPS_PORT=${LAB_BSF_OPS_PORT:-29091}
export LAB_MEF_PORT=${LAB_MEF_PORT:-28082}
export LAB_MAF_PORT=${LAB_MAF_PORT:-28443}
export LAB_NAF_OPS_PORT=${LAB_NAF_OPS_PORT:-29090}
health_timeout=${HEALTH_TIMEOUT:-180}   # seconds, step 3
ue_timeout=${UE_TIMEOUT:-120}           # seconds, one ue run
reconnect_timeout=${RECONNECT_TIMEOUT:-90} # seconds, step 6 (BSF reconnect backoff)

step=0
say() { printf '%s\n' "$*"; }
ok() { say "ok   step $step: $*"; }
fail() {
  say "FAIL step $step: $*" >&2
  exit 1
}
begin() {
  step=$1
  shift
  say "---- step $step: $*"
}

# Compose v2 plugin, else docker-compose; $COMPOSE overrides (e.g. "docker-compose").
if [ -n "${COMPOSE:-}" ]; then
  read -r -a compose_cmd <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd=(docker-compose)
else
  say "FAIL: neither 'docker compose' nor 'docker-compose' works" >&2
  exit 1
fi
compose() { "${compose_cmd[@]}" -f docker-compose.yml -p "$project" "$@"; }

for tool in docker curl base64 od timeout; do
  command -v "$tool" >/dev/null 2>&1 || { say "FAIL: $tool is not installed" >&2; exit 1; }
done

# lab_env NAME: a value from the lab env file (the same file the containers read).
lab_env() {
  local v
  v=$(sed -n "s/^$1=//p" deploy/compose/lab.env | tail -n 1)
  [ -n "$v" ] || fail "$1 is not set in deploy/compose/lab.env"
  printf '%s' "$v"
}

# cid SERVICE: the id of the service's container started by "up" (not a "run" one-off).
cid() {
  docker ps -aq \
    --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" \
    --filter "label=com.docker.compose.oneoff=False" | head -n 1
}

# json_field NAME: the string value of "NAME" in the JSON on stdin (flat string fields only;
# "kmr" does not match "kmr_id").
json_field() { tr -d ' \n\r\t' | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

b64_to_hex() { base64 -d | od -An -v -tx1 | tr -d ' \n'; }

# maf_kmr KMR_ID: the Kmr (hex) the MAF returns to the IN-CSE for KMR_ID, or fail.
maf_kmr() {
  local body code
  body=$(curl -sS --max-time 10 -w '\n%{http_code}' --get \
    --data-urlencode "kmr_id=$1" \
    -H "Authorization: Bearer $cse_token" \
    "http://127.0.0.1:$LAB_MAF_PORT/maf/v1/keys") || fail "MAF look-up: curl failed"
  code=${body##*$'\n'}
  body=${body%$'\n'*}
  [ "$code" = 200 ] || fail "MAF look-up of $1: HTTP $code: $body"
  printf '%s' "$body" | json_field kmr | b64_to_hex
}

# check_enrolment OUTPUT: the UE's --json --show-keys output names a Kmr the MAF holds.
check_enrolment() {
  local out=$1 kmr_id kmr maf code
  kmr_id=$(printf '%s' "$out" | json_field kmr_id)
  kmr=$(printf '%s' "$out" | json_field kmr)
  [ -n "$kmr_id" ] || fail "no kmr_id in the ue output: $out"
  [ -n "$kmr" ] || fail "no kmr in the ue output (--show-keys missing?)"
  maf=$(maf_kmr "$kmr_id") || exit 1
  [ "$maf" = "$kmr" ] || fail "the MAF's Kmr for $kmr_id differs from the UE's"
  code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' --get --data-urlencode "kmr_id=$kmr_id" \
    "http://127.0.0.1:$LAB_MAF_PORT/maf/v1/keys") || fail "MAF look-up: curl failed"
  [ "$code" = 401 ] || fail "MAF look-up without the IN-CSE token: HTTP $code, want 401"
  say "     Kmr-ID $kmr_id: UE and MAF hold the same Kmr (401 without the IN-CSE token)"
}

# ue_run: one "compose run" of the ue one-shot; sets ue_out (stdout+stderr) and ue_rc.
ue_run() {
  ue_rc=0
  ue_out=$(timeout "$ue_timeout" "${compose_cmd[@]}" -f docker-compose.yml -p "$project" \
    run --rm --no-deps -T ue 2>&1) || ue_rc=$?
}

# up_lab: compose up -d (it waits for the depends_on conditions), bounded, or fail.
up_lab() {
  local rc=0 out
  out=$(timeout "$health_timeout" "${compose_cmd[@]}" -f docker-compose.yml -p "$project" up -d 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || fail "compose up -d exited $rc: $out"
}

# one_shot SERVICE: wait (bounded) for the one-shot container started by "up"; sets
# shot_rc (its exit status) and shot_out (its stdout; stderr too when stdout is empty).
one_shot() {
  local id
  id=$(cid "$1")
  [ -n "$id" ] || fail "no container for service $1"
  shot_rc=$(timeout "$ue_timeout" docker wait "$id") || fail "$1 did not finish within ${ue_timeout}s"
  shot_out=$(docker logs "$id" 2>/dev/null)
  [ -n "$shot_out" ] || shot_out=$(docker logs "$id" 2>&1)
}

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && [ "$step" -ge 2 ]; then
    say "---- diagnostics (compose ps, last log lines)"
    compose ps -a
    compose logs --no-color --tail=40
  fi
  if [ -n "${KEEP_LAB:-}" ]; then
    say "---- KEEP_LAB set: the lab is still running (project $project)"
  else
    say "---- step 8: compose down -v"
    if compose down -v --remove-orphans >/dev/null 2>&1; then
      say "ok   step 8: lab removed (containers, network, volumes)"
    else
      say "FAIL step 8: compose down -v failed" >&2
      rc=1
    fi
  fi
  if [ "$rc" -eq 0 ]; then say "PASS tests/compose/run.sh"; else say "FAIL tests/compose/run.sh" >&2; fi
  exit "$rc"
}

say "compose: ${compose_cmd[*]} ($("${compose_cmd[@]}" version --short 2>/dev/null || echo '?')), project $project"

begin 1 "build images"
if [ -n "${SKIP_BUILD:-}" ]; then
  for img in hss-sim bsf naf gba-ue; do
    docker image inspect "opengba/$img:$OPENGBA_TAG" >/dev/null 2>&1 ||
      fail "SKIP_BUILD set but opengba/$img:$OPENGBA_TAG does not exist"
  done
  ok "SKIP_BUILD: using the existing opengba/*:$OPENGBA_TAG images"
else
  build_log=$(mktemp)
  if TAG=$OPENGBA_TAG scripts/build-images.sh >"$build_log" 2>&1; then
    rm -f "$build_log"
    ok "opengba/{hss-sim,bsf,naf,gba-ue}:$OPENGBA_TAG built"
  else
    cat "$build_log" >&2
    rm -f "$build_log"
    fail "scripts/build-images.sh failed"
  fi
fi

cse_token=$(lab_env MAF_CSE_TOKEN) || exit 1

trap cleanup EXIT
# Start from fresh volumes (a leftover of an interrupted run would hold the subscriber).
compose down -v --remove-orphans >/dev/null 2>&1 || true

begin 2 "compose up -d"
# "up" waits for the depends_on conditions (the ue starts once bsf and naf are healthy).
up_lab
ok "services created and started"

begin 3 "wait for health (at most ${health_timeout}s)"
deadline=$((SECONDS + health_timeout))
for svc in hss-sim bsf naf; do
  id=$(cid "$svc")
  [ -n "$id" ] || fail "no container for service $svc"
  while :; do
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
    case "$state" in
      "running healthy") break ;;
      "running "*) ;;
      *) fail "$svc is $state (exit code $(docker inspect -f '{{.State.ExitCode}}' "$id"))" ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || fail "$svc not healthy after ${health_timeout}s (state: $state)"
    sleep 1
  done
done
ok "hss-sim, bsf and naf are healthy"

begin 4 "ue one-shot enrolled; the MAF holds its Kmr"
one_shot ue
[ "$shot_rc" = 0 ] || fail "ue exited $shot_rc: $shot_out"
check_enrolment "$shot_out"
ok "ue exited 0; MAF look-up (IN-CSE token, 127.0.0.1:$LAB_MAF_PORT) returns the UE's Kmr"

begin 5 "hss-sim stopped: ue fails with the BSF's 503"
compose stop hss-sim >/dev/null 2>&1 || fail "compose stop hss-sim failed"
ue_run
[ "$ue_rc" -eq 3 ] || fail "ue exited $ue_rc, want 3 (network/5xx): $ue_out"
printf '%s' "$ue_out" | grep -q '503' || fail "ue output does not show the 503: $ue_out"
ok "ue exited 3: $(printf '%s\n' "$ue_out" | grep -m1 -o '"error": *"[^"]*"' || true)"

begin 6 "hss-sim started again: ue succeeds (at most ${reconnect_timeout}s for the BSF to reconnect)"
compose start hss-sim >/dev/null 2>&1 || fail "compose start hss-sim failed"
deadline=$((SECONDS + reconnect_timeout))
until curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$LAB_BSF_OPS_PORT/readyz" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "BSF /readyz not 200 within ${reconnect_timeout}s after hss-sim started"
  sleep 1
done
say "     BSF ready again (Zh peer up)"
ue_run
[ "$ue_rc" -eq 0 ] || fail "ue exited $ue_rc after the BSF reported ready: $ue_out"
check_enrolment "$ue_out"
ok "ue exited 0 and the MAF holds the new Kmr"

begin 7 "compose down (volumes kept), up -d again: hss-init skips the existing subscriber"
compose down >/dev/null 2>&1 || fail "compose down failed"
up_lab
one_shot hss-init
[ "$shot_rc" = 0 ] || fail "hss-init exited $shot_rc on a store that holds the subscriber: $shot_out"
printf '%s' "$shot_out" | grep -q 'imported 0, skipped 1 already in the store, failed 0' ||
  fail "hss-init did not report the skip: $shot_out"
one_shot ue
[ "$shot_rc" = 0 ] || fail "ue exited $shot_rc after the second up: $shot_out"
check_enrolment "$shot_out"
ok "hss-init exited 0 (subscriber skipped), ue enrolled again with the kept volumes"
