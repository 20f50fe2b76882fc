#!/usr/bin/env bash
# Writes the smoke verdict where the smoke-gate hook reads it, for the task definition being
# deployed. On "failed" it also asks ECS to roll back at once instead of at the hook's next call.
# Usage: record-smoke.sh passed|failed. Env: ENVIRONMENT SERVICE DEPLOYMENT RUN_URL.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${DEPLOYMENT:?}" "${RUN_URL:?}"
result=${1:?passed or failed}

revision=$(aws ecs describe-service-deployments --service-deployment-arns "$DEPLOYMENT" \
  --query 'serviceDeployments[0].targetServiceRevision.arn' --output text)
task_definition=$(aws ecs describe-service-revisions --service-revision-arns "$revision" \
  --query 'serviceRevisions[0].taskDefinition' --output text)
verdict=$(jq -cn --arg td "$task_definition" --arg result "$result" --arg run "$RUN_URL" \
  '{taskDefinitionArn: $td, result: $result, runUrl: $run}')
aws ssm put-parameter --name "$SMOKE_PARAMETER" --type String --overwrite --value "$verdict" >/dev/null
log "smoke ${result} recorded for ${task_definition}"

if [[ "$result" != "passed" ]]; then
  aws ecs stop-service-deployment --service-deployment-arn "$DEPLOYMENT" --stop-type ROLLBACK >/dev/null \
    || log "rollback request refused (the hook rolls back on its next call)"
fi
