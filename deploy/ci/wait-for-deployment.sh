#!/usr/bin/env bash
# Follows a service deployment. `wait-for-deployment.sh test-traffic` returns once the test
# listener points at green (the smoke-gate hook is waiting); `wait-for-deployment.sh done`
# returns once the deployment finished, 0 only if it SUCCEEDED (after the bake time).
# Env: ENVIRONMENT SERVICE DEPLOYMENT.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${DEPLOYMENT:?}"
goal=${1:?test-traffic or done}

for _ in $(seq 1 360); do
  read -r status stage < <(aws ecs describe-service-deployments --service-deployment-arns "$DEPLOYMENT" \
    --query 'serviceDeployments[0].[status, lifecycleStage]' --output text)
  log "${ECS_SERVICE}: ${status} ${stage}"
  case "$status" in
    SUCCESSFUL) exit 0 ;;
    STOPPED | ROLLBACK_REQUESTED | ROLLBACK_IN_PROGRESS | ROLLBACK_SUCCESSFUL | ROLLBACK_FAILED) exit 1 ;;
  esac
  if [[ "$goal" == "test-traffic" && "$stage" == "POST_TEST_TRAFFIC_SHIFT" ]]; then
    exit 0
  fi
  sleep 10
done
log "gave up waiting for ${goal}"
exit 1
