#!/usr/bin/env bash
# Follows a service deployment until it ends: green up, the smoke-gate hook's smoke task against
# the test listener, production traffic, the bake time. Exits 0 only if it SUCCEEDED.
# Env: ENVIRONMENT SERVICE DEPLOYMENT.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${DEPLOYMENT:?}"

# 75 minutes: the hook's 15-minute smoke timeout, a 10-minute bake time and slow task starts.
for _ in $(seq 1 450); do
  read -r status stage < <(aws ecs describe-service-deployments --service-deployment-arns "$DEPLOYMENT" \
    --query 'serviceDeployments[0].[status, lifecycleStage]' --output text)
  log "${ECS_SERVICE}: ${status} ${stage}"
  case "$status" in
    SUCCESSFUL) exit 0 ;;
    STOPPED | ROLLBACK_REQUESTED | ROLLBACK_IN_PROGRESS | ROLLBACK_SUCCESSFUL | ROLLBACK_FAILED) exit 1 ;;
  esac
  sleep 10
done
log "gave up waiting for ${ECS_SERVICE}"
exit 1
