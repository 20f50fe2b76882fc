#!/usr/bin/env bash
# Reads the smoke verdict the smoke-gate hook recorded for this deployment's service revision,
# with the smoke task's `smoke-summary` line from its log, into smoke-results/$SERVICE.json and a
# Markdown summary (smoke-results/$SERVICE.md). Exits 0 only on a "passed" verdict for exactly
# this revision. Env: ENVIRONMENT SERVICE DEPLOYMENT.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${DEPLOYMENT:?}"
mkdir -p smoke-results

revision=$(aws ecs describe-service-deployments --service-deployment-arns "$DEPLOYMENT" \
  --query 'serviceDeployments[0].targetServiceRevision.arn' --output text)
verdict=$(aws ssm get-parameter --name "$SMOKE_PARAMETER" --query Parameter.Value --output text)
if [[ "$(jq -r .serviceRevisionArn <<<"$verdict")" != "$revision" ]]; then
  verdict=$(jq -cn --arg r "$revision" '{serviceRevisionArn: $r, result: "none",
    reason: "the hook recorded no verdict for this revision (it never reached the test stage)"}')
fi
summary='{}'
task=$(jq -r '.smokeTask // empty' <<<"$verdict")
if [[ -n "$task" ]]; then
  line=$(aws logs get-log-events --log-group-name "$SMOKE_LOG_GROUP" \
    --log-stream-name "${SERVICE}/smoke/${task##*/}" --query 'events[].message' --output text 2>/dev/null \
    | tr '\t' '\n' | grep '^smoke-summary ' | tail -n1 || true)
  summary=${line#smoke-summary }
  summary=${summary:-'{}'}
fi
jq -n --argjson verdict "$verdict" --argjson summary "$summary" '$verdict + {summary: $summary}' \
  >"smoke-results/${SERVICE}.json"
jq -r --arg s "$SERVICE" '"### Smoke \($s): \(.result)\n\nrevision: \(.serviceRevisionArn)\n\n" +
  "requests: \(.summary.requests // "?"), failed assertions: \(.summary.failedAssertions // "?")\n\n" +
  ([(.summary.failures // [])[] | "- \(.request): \(.error)"] | join("\n"))' \
  "smoke-results/${SERVICE}.json" >"smoke-results/${SERVICE}.md"
cat "smoke-results/${SERVICE}.md" >&2
[[ "$(jq -r .result <<<"$verdict")" == "passed" ]]
