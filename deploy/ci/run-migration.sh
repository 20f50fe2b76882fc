#!/usr/bin/env bash
# Runs `python -m $SERVICE migrate` as a one-off Fargate task with IMAGE and waits for it.
# Fails (and prints the task's log) unless the container exits 0. A migration still running
# after MIGRATION_TIMEOUT_SECONDS (default 1800) is stopped, so it can neither hold its locks
# nor finish unobserved after the release has given up. Env: ENVIRONMENT SERVICE IMAGE.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${IMAGE:?}"
timeout_seconds=${MIGRATION_TIMEOUT_SECONDS:-1800}

task_definition=$(register_with_image "$MIGRATE_FAMILY" "$IMAGE")
network=$(aws ecs describe-services --cluster "$CLUSTER" --services "$ECS_SERVICE" \
  --query 'services[0].networkConfiguration' --output json)
log "running ${task_definition}"
task=$(aws ecs run-task --cluster "$CLUSTER" --task-definition "$task_definition" --launch-type FARGATE \
  --network-configuration "$network" --started-by "github-${GITHUB_RUN_ID:-manual}" \
  --query 'tasks[0].taskArn' --output text)

deadline=$(($(date +%s) + timeout_seconds))
status=PENDING
# The CLI's waiter gives up after 10 minutes; a migration may take longer, so poll.
while [[ "$status" != "STOPPED" ]]; do
  if (($(date +%s) >= deadline)); then
    log "migration still running after ${timeout_seconds} s: stopping it"
    aws ecs stop-task --cluster "$CLUSTER" --task "$task" --reason "migration timed out" >/dev/null
    aws ecs wait tasks-stopped --cluster "$CLUSTER" --tasks "$task"
    break
  fi
  sleep 10
  status=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].lastStatus' --output text)
done
read -r exit_code reason < <(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" \
  --query 'tasks[0].[containers[0].exitCode, stoppedReason]' --output text)

log "migration task stopped: exit code ${exit_code} (${reason})"
aws logs get-log-events --log-group-name "/betfuz/${ENVIRONMENT}/${SERVICE}" \
  --log-stream-name "migrate/app/${task##*/}" --query 'events[].message' --output text 2>/dev/null | tr '\t' '\n' || true
[[ "$exit_code" == "0" ]]
