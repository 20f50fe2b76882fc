#!/usr/bin/env bash
# Runs deploy/smoke/$SERVICE.postman_collection.json with newman against BASE_URL. The tokens
# travel in an environment file (mode 600), not on the command line. Reports land in OUT_DIR.
# Env: SERVICE BASE_URL TOKEN COMPLIANCE_TOKEN [OUT_DIR] [NEWMAN].
set -euo pipefail
: "${SERVICE:?}" "${BASE_URL:?}" "${TOKEN:?}" "${COMPLIANCE_TOKEN:?}"
out=${OUT_DIR:-smoke-results}
newman=${NEWMAN:-node_modules/.bin/newman}
mkdir -p "$out"

environment=$(mktemp)
trap 'rm -f "$environment"' EXIT
chmod 600 "$environment"
jq -n --arg base "$BASE_URL" --arg token "$TOKEN" --arg compliance "$COMPLIANCE_TOKEN" '{
  name: "smoke", values: [
    {key: "base_url", value: $base, type: "default", enabled: true},
    {key: "token", value: $token, type: "secret", enabled: true},
    {key: "compliance_token", value: $compliance, type: "secret", enabled: true}]}' >"$environment"

"$newman" run "deploy/smoke/${SERVICE}.postman_collection.json" \
  --environment "$environment" \
  --timeout-request 10000 \
  --reporters cli,json,junit \
  --reporter-json-export "${out}/${SERVICE}.json" \
  --reporter-junit-export "${out}/${SERVICE}.xml"
