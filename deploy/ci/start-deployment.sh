#!/usr/bin/env bash
# Registers the smoke task definition with SMOKE_IMAGE (what the smoke-gate hook will run
# against green) and the service task definition with IMAGE, then starts the ECS blue/green
# deployment. Prints the service deployment ARN. Env: ENVIRONMENT SERVICE IMAGE SMOKE_IMAGE.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${IMAGE:?}" "${SMOKE_IMAGE:?}"

smoke_definition=$(register_with_image "$SMOKE_FAMILY" "$SMOKE_IMAGE")
log "smoke runner for this release: ${smoke_definition}"
task_definition=$(register_with_image "$FAMILY" "$IMAGE")
started=$(date -u +%s)
log "updating ${ECS_SERVICE} to ${task_definition}"
aws ecs update-service --cluster "$CLUSTER" --service "$ECS_SERVICE" --task-definition "$task_definition" >/dev/null

for _ in $(seq 1 30); do
  deployment=$(aws ecs list-service-deployments --cluster "$CLUSTER" --service "$ECS_SERVICE" \
    --created-at "after=${started}" --query 'serviceDeployments[0].serviceDeploymentArn' --output text)
  if [[ "$deployment" != "None" && -n "$deployment" ]]; then
    echo "$deployment"
    exit 0
  fi
  sleep 5
done
log "no service deployment appeared for ${ECS_SERVICE}"
exit 1
