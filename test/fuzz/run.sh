#!/usr/bin/env bash
# The API fuzzer: schemathesis (from PyPI, in a venv under .infra-cache/) generates requests from the
# OpenAPI document against a real API process on seeded data, with a key of every role and with no
# key, and fails on any 5xx, undocumented status, schema violation or response slower than
# FUZZ_MAX_RESPONSE_S. Bounded in examples per operation and in time; stops the API it started.
# Every check runs but one: positive_data_acceptance expects any schema-valid request to succeed, and
# some rules cannot be said in OpenAPI (occurredAt at most 300 s ahead of now, a phone number valid in
# its numbering plan, a cursor this endpoint returned, a known customer id). Those answer a documented
# 422/404 naming the field, which status_code_conformance still checks.
#
#   bash test/fuzz/run.sh            (after npm run build; .ci/run calls it after npm test)
#
# Environment (all optional): FUZZ_EXAMPLES (per operation, default 25), FUZZ_MAX_TIME_S (per pass,
# default 120), FUZZ_MAX_RESPONSE_S (default 15), FUZZ_SEED (default 1), FUZZ_CUSTOMERS (seeded, 150).
# The response limit catches a stalled endpoint, not speed (that is npm run bench's job, on a quiet
# machine): POST /v1/admin/rebuilds claims the registry under its write lock, behind a projector
# batch, and answered in 5.5 and 6.5 s while a full-size bench shared the two cores (2026-12-01).
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
VENV=.infra-cache/fuzz-venv
EXAMPLES="${FUZZ_EXAMPLES:-25}"
MAX_TIME="${FUZZ_MAX_TIME_S:-120}"
MAX_RESPONSE="${FUZZ_MAX_RESPONSE_S:-15}"
SEED="${FUZZ_SEED:-1}"
CUSTOMERS="${FUZZ_CUSTOMERS:-150}"

log() { echo "[fuzz] $*"; }

if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -f dist/apps/api/src/main.js ] || npm run build

DATA_DIR="$(mktemp -d)"
PORT="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
BASE="http://127.0.0.1:$PORT"
KEY_ALL="fuzz-all-roles-$RANDOM$RANDOM-key"
KEY_INGEST="fuzz-ingest-only-$RANDOM$RANDOM-key"
KEY_ANALYST="fuzz-analyst-only-$RANDOM$RANDOM-key"
API_PID=""
cleanup() {
  [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null || true
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

log "starting the API on $BASE (data in a scratch directory)"
# webhooks the fuzzer creates may only point at a name that never resolves: no request leaves the machine
DATA_DIR="$DATA_DIR" PORT="$PORT" LOG_LEVEL=warn SQLITE_SYNCHRONOUS=NORMAL WEBHOOK_ALLOWED_HOSTS=fuzz-receiver.invalid \
  API_KEYS="ingest+analyst+ops:$KEY_ALL,ingest:$KEY_INGEST,analyst:$KEY_ANALYST" \
  node dist/apps/api/src/main.js > "$DATA_DIR/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/health/live" > /dev/null 2>&1 && break
  kill -0 "$API_PID" 2>/dev/null || { cat "$DATA_DIR/api.log"; echo "[fuzz] the API did not start" >&2; exit 1; }
  sleep 0.2
done

log "seeding $CUSTOMERS customers through the HTTP API"
node dist/seeds/src/main.js --customers "$CUSTOMERS" --url "$BASE" --api-key "$KEY_INGEST" > /dev/null

status=0
# One worker: schemathesis' workers are threads, and with two of them CPython 3.11's ast.parse (which
# Hypothesis calls to describe its filters) raised "SystemError: AST constructor recursion depth
# mismatch" in the coverage phase (a tool error, not an API finding; it failed a CI run).
# $1: a name, then extra schemathesis arguments
pass() {
  local name="$1"
  shift
  log "pass: $name"
  # schemathesis closes on a pytest-style line ("==== 1 warning in 120.01s ====") that carries no test
  # count; CI's checker read it as the run's summary and judged that no test ran. It is re-worded here.
  # (pipefail: the pass fails when schemathesis does, whatever sed says)
  if ! "$VENV/bin/st" run "$BASE/docs/openapi.json" \
    --checks all --exclude-checks positive_data_acceptance --max-examples "$EXAMPLES" --max-time "$MAX_TIME" --max-response-time "$MAX_RESPONSE" \
    --seed "$SEED" --workers 1 --no-color --request-timeout 30 \
    --generation-database none --suppress-health-check too_slow,filter_too_much \
    "$@" 2>&1 | sed -E 's/^=+ (.*[^ =]) =+$/[fuzz] schemathesis closed with: \1/'; then
    status=1
  fi
}

pass "every role (one key holding ingest, analyst and ops)" -H "Authorization: Bearer $KEY_ALL"
pass "ingest-only key (analyst and ops endpoints must answer their documented 403)" -H "Authorization: Bearer $KEY_INGEST"
pass "no key (every protected endpoint must answer its documented 401)"

if ! kill -0 "$API_PID" 2>/dev/null; then
  echo "[fuzz] the API process died during the run" >&2
  tail -50 "$DATA_DIR/api.log" >&2
  exit 1
fi
if grep -q '"level":"error"' "$DATA_DIR/api.log"; then
  echo "[fuzz] the API logged errors during the run:" >&2
  grep '"level":"error"' "$DATA_DIR/api.log" | head -20 >&2
  status=1
fi
[ "$status" -eq 0 ] && log "no failures" || log "failures found (see above)"
exit "$status"
