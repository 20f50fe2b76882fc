#!/usr/bin/env bash
# Builds and pushes one image as <git sha> and <git tag>: `build-and-push.sh service` (the
# service's image, deploy/images/service.Dockerfile) or `build-and-push.sh smoke` (the smoke
# runner, deploy/images/smoke.Dockerfile). ECR tags are immutable: an image already pushed for
# this commit (a `v*` and a `<service>-v*` tag on one commit, or the smoke image that the three
# jobs of a `v*` release share) is re-tagged, not rebuilt. Fails on CRITICAL findings of the
# push scan. Env: ENVIRONMENT SERVICE REGISTRY GIT_SHA GIT_TAG. Prints the image reference.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${REGISTRY:?}" "${GIT_SHA:?}" "${GIT_TAG:?}"
kind=${1:?service or smoke}

case "$kind" in
  service) repository=$REPOSITORY dockerfile=deploy/images/service.Dockerfile ;;
  smoke) repository=$SMOKE_REPOSITORY dockerfile=deploy/images/smoke.Dockerfile ;;
  *) log "unknown image kind: ${kind}"; exit 2 ;;
esac
image="${REGISTRY}/${repository}"
exists() { aws ecr describe-images --repository-name "$repository" --image-ids "imageTag=$1" >/dev/null 2>&1; }
retag() {
  local manifest
  manifest=$(aws ecr batch-get-image --repository-name "$repository" --image-ids "imageTag=${GIT_SHA}" \
    --query 'images[0].imageManifest' --output text)
  aws ecr put-image --repository-name "$repository" --image-tag "$GIT_TAG" --image-manifest "$manifest" >/dev/null \
    || log "tag ${GIT_TAG} already present"
}

if exists "$GIT_SHA"; then
  log "image ${image}:${GIT_SHA} exists; adding tag ${GIT_TAG}"
  retag
else
  log "building ${image}:${GIT_SHA}"
  docker build --pull --file "$dockerfile" --build-arg "SERVICE=${SERVICE}" \
    --label "org.opencontainers.image.revision=${GIT_SHA}" \
    --label "org.opencontainers.image.version=${GIT_TAG}" \
    --tag "${image}:${GIT_SHA}" .
  # Another job of the same release may push the same commit first: its image then stands.
  if docker push "${image}:${GIT_SHA}"; then
    docker tag "${image}:${GIT_SHA}" "${image}:${GIT_TAG}"
    docker push "${image}:${GIT_TAG}" || exists "$GIT_TAG"
  else
    exists "$GIT_SHA" || exit 1
    log "${image}:${GIT_SHA} was pushed by a parallel job; using it"
    retag
  fi
fi

log "waiting for the vulnerability scan"
aws ecr wait image-scan-complete --repository-name "$repository" --image-id "imageTag=${GIT_SHA}"
critical=$(aws ecr describe-image-scan-findings --repository-name "$repository" --image-id "imageTag=${GIT_SHA}" \
  --query 'imageScanFindings.findingSeverityCounts.CRITICAL' --output text)
if [[ "$critical" != "None" && "$critical" -gt 0 ]]; then
  log "the image has ${critical} CRITICAL vulnerabilities; not deploying"
  exit 1
fi
echo "${image}:${GIT_SHA}"
