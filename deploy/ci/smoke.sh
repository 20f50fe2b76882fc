#!/usr/bin/env bash
# Runs deploy/smoke/$SERVICE.postman_collection.json with newman against BASE_URL and ends with
# one line `smoke-summary {"requests":…,"failedAssertions":…,"failures":[…]}` that the deploy
# workflow and the rehearsal read. The exit code is newman's: 0 only if every assertion passed.
#
# Tokens: TOKEN and COMPLIANCE_TOKEN as given (`make smoke` passes dev tokens), or, when only
# SMOKE_JWT_SECRET is set (the smoke runner task in AWS), smoke-identity tokens minted here with
# deploy/smoke/mint_token.py. They travel in an environment file (mode 600), never on a command
# line. Paths are relative to the repository root (the smoke image keeps the same layout).
# Env: SERVICE BASE_URL [TOKEN COMPLIANCE_TOKEN | SMOKE_JWT_SECRET [SMOKE_RUN_ID]] [OUT_DIR] [NEWMAN].
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${SERVICE:?}" "${BASE_URL:?}"
out=${OUT_DIR:-smoke-results}
newman=${NEWMAN:-node_modules/.bin/newman}
mkdir -p "$out"

if [[ -z "${TOKEN:-}" ]]; then
  : "${SMOKE_JWT_SECRET:?set TOKEN and COMPLIANCE_TOKEN, or SMOKE_JWT_SECRET to mint smoke tokens}"
  subject="smoke-${SMOKE_RUN_ID:-$(date -u +%Y%m%dT%H%M%S)}"
  TOKEN=$(python3 deploy/smoke/mint_token.py "$subject")
  COMPLIANCE_TOKEN=$(python3 deploy/smoke/mint_token.py "$subject" --role compliance)
fi
: "${COMPLIANCE_TOKEN:?}"

environment=$(mktemp)
trap 'rm -f "$environment"' EXIT
chmod 600 "$environment"
jq -n --arg base "$BASE_URL" --arg token "$TOKEN" --arg compliance "$COMPLIANCE_TOKEN" '{
  name: "smoke", values: [
    {key: "base_url", value: $base, type: "default", enabled: true},
    {key: "token", value: $token, type: "secret", enabled: true},
    {key: "compliance_token", value: $compliance, type: "secret", enabled: true}]}' >"$environment"

report="${out}/${SERVICE}.json"
rm -f "$report"
status=0
"$newman" run "deploy/smoke/${SERVICE}.postman_collection.json" \
  --environment "$environment" \
  --timeout-request 10000 \
  --reporters cli,json,junit \
  --reporter-json-export "$report" \
  --reporter-junit-export "${out}/${SERVICE}.xml" || status=$?

if [[ -f "$report" ]]; then
  summary=$(jq -c '{requests: .run.stats.requests.total, failedAssertions: .run.stats.assertions.failed,
    failures: [.run.failures[] | {request: (.source.name // "?"), error: .error.message}]}' "$report")
  echo "smoke-summary ${summary}"
else
  echo 'smoke-summary {"requests":0,"failedAssertions":null,"failures":[{"request":"newman","error":"no report"}]}'
  [[ "$status" != 0 ]] || status=2
fi
exit "$status"
