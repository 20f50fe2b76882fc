#!/usr/bin/env bash
# Runs `python -m $SERVICE migrate` as a one-off Fargate task with IMAGE and waits for it.
# Fails (and prints the task's log) unless the container exits 0. Env: ENVIRONMENT SERVICE IMAGE.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${IMAGE:?}"

task_definition=$(register_with_image "$MIGRATE_FAMILY" "$IMAGE")
network=$(aws ecs describe-services --cluster "$CLUSTER" --services "$ECS_SERVICE" \
  --query 'services[0].networkConfiguration' --output json)
log "running ${task_definition}"
task=$(aws ecs run-task --cluster "$CLUSTER" --task-definition "$task_definition" --launch-type FARGATE \
  --network-configuration "$network" --started-by "github-${GITHUB_RUN_ID:-manual}" \
  --query 'tasks[0].taskArn' --output text)

# The CLI waiter gives up after 10 minutes; a migration may take longer, so poll (30 min max).
for _ in $(seq 1 180); do
  status=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].lastStatus' --output text)
  [[ "$status" == "STOPPED" ]] && break
  sleep 10
done
read -r exit_code reason < <(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" \
  --query 'tasks[0].[containers[0].exitCode, stoppedReason]' --output text)

log "migration task stopped: exit code ${exit_code} (${reason})"
aws logs get-log-events --log-group-name "/betfuz/${ENVIRONMENT}/${SERVICE}" \
  --log-stream-name "migrate/app/${task##*/}" --query 'events[].message' --output text 2>/dev/null | tr '\t' '\n' || true
[[ "$exit_code" == "0" ]]
