# Shared by the deploy scripts: strict mode, names derived from ENVIRONMENT and SERVICE, logging.
# shellcheck shell=bash
set -euo pipefail

: "${ENVIRONMENT:?set ENVIRONMENT, e.g. prod}"
: "${SERVICE:?set SERVICE to topup, treasury or ledger}"

case "$SERVICE" in
  topup | treasury | ledger) ;;
  *) echo "unknown service: $SERVICE" >&2; exit 2 ;;
esac

CLUSTER="betfuz-${ENVIRONMENT}"
ECS_SERVICE="betfuz-${ENVIRONMENT}-${SERVICE}"
FAMILY="betfuz-${ENVIRONMENT}-${SERVICE}"
MIGRATE_FAMILY="${FAMILY}-migrate"
SMOKE_FAMILY="${FAMILY}-smoke"
REPOSITORY="betfuz-${ENVIRONMENT}/${SERVICE}"
SMOKE_REPOSITORY="betfuz-${ENVIRONMENT}/smoke"
SMOKE_PARAMETER="/betfuz/${ENVIRONMENT}/${SERVICE}/smoke-result"
SMOKE_LOG_GROUP="/betfuz/${ENVIRONMENT}/smoke"
export CLUSTER ECS_SERVICE FAMILY MIGRATE_FAMILY SMOKE_FAMILY REPOSITORY SMOKE_REPOSITORY
export SMOKE_PARAMETER SMOKE_LOG_GROUP

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Registers a copy of FAMILY's latest task definition with IMAGE in its container; prints the ARN.
register_with_image() {
  local family=$1 image=$2
  aws ecs describe-task-definition --task-definition "$family" --query taskDefinition --output json |
    jq --arg image "$image" '
      .containerDefinitions |= map(.image = $image)
      | {family, taskRoleArn, executionRoleArn, networkMode, containerDefinitions, volumes,
         requiresCompatibilities, cpu, memory, runtimePlatform}
      | with_entries(select(.value != null))' >"${RUNNER_TEMP:-/tmp}/${family}.json"
  aws ecs register-task-definition --cli-input-json "file://${RUNNER_TEMP:-/tmp}/${family}.json" \
    --query taskDefinition.taskDefinitionArn --output text
}
