#!/usr/bin/env bash
# Builds services/$SERVICE/Dockerfile and pushes it as <git sha> and <git tag>. ECR tags are
# immutable: an image already pushed for this commit (a `v*` and a `<service>-v*` tag on the
# same commit) is re-tagged, not rebuilt. Fails on CRITICAL findings of the push scan.
# Env: ENVIRONMENT SERVICE REGISTRY GIT_SHA GIT_TAG. Prints the image reference to deploy.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${REGISTRY:?}" "${GIT_SHA:?}" "${GIT_TAG:?}"

image="${REGISTRY}/${REPOSITORY}"
if aws ecr describe-images --repository-name "$REPOSITORY" --image-ids "imageTag=${GIT_SHA}" >/dev/null 2>&1; then
  log "image for ${GIT_SHA} exists; adding tag ${GIT_TAG}"
  manifest=$(aws ecr batch-get-image --repository-name "$REPOSITORY" --image-ids "imageTag=${GIT_SHA}" \
    --query 'images[0].imageManifest' --output text)
  aws ecr put-image --repository-name "$REPOSITORY" --image-tag "$GIT_TAG" --image-manifest "$manifest" >/dev/null \
    || log "tag ${GIT_TAG} already present"
else
  log "building ${image}:${GIT_SHA}"
  docker build --pull --file "services/${SERVICE}/Dockerfile" \
    --label "org.opencontainers.image.revision=${GIT_SHA}" \
    --label "org.opencontainers.image.version=${GIT_TAG}" \
    --tag "${image}:${GIT_SHA}" --tag "${image}:${GIT_TAG}" .
  docker push "${image}:${GIT_SHA}"
  docker push "${image}:${GIT_TAG}"
fi

log "waiting for the vulnerability scan"
aws ecr wait image-scan-complete --repository-name "$REPOSITORY" --image-id "imageTag=${GIT_SHA}"
critical=$(aws ecr describe-image-scan-findings --repository-name "$REPOSITORY" --image-id "imageTag=${GIT_SHA}" \
  --query 'imageScanFindings.findingSeverityCounts.CRITICAL' --output text)
if [[ "$critical" != "None" && "$critical" -gt 0 ]]; then
  log "the image has ${critical} CRITICAL vulnerabilities; not deploying"
  exit 1
fi
echo "${image}:${GIT_SHA}"
