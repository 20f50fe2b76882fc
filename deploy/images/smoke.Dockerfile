# syntax=docker/dockerfile:1
# The smoke runner: newman, the Postman collections and the smoke-token minter. The smoke-gate
# hook runs it as a one-off Fargate task inside the VPC against the ALB's test listener, with
# SERVICE, BASE_URL and SMOKE_JWT_SECRET from its task definition; its exit code is the verdict.
# Build context is the repository root:
#   podman build --format docker -f deploy/images/smoke.Dockerfile .

# The same pinned base as the service images (python for the token minter); Debian's nodejs runs
# newman. Where no registry is reachable: --build-arg PYTHON_IMAGE=<local image>.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
# checkov:skip=CKV_DOCKER_7:FROM names the build argument, whose default is pinned by tag and digest above.
FROM ${PYTHON_IMAGE} AS newman
# npm trusts the system's CA bundle (the same path to the registry as the rest of the build).
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
# Debian's packages follow the base image's release; their versions move with its security
# updates, so pinning them here would only break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/smoke
# Exactly the locked tree (integrity hashes in the lock), no install scripts.
COPY deploy/smoke/package.json deploy/smoke/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="betfuz-smoke" \
      org.opencontainers.image.description="Betfuz smoke runner (newman and the Postman collections)"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs jq \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 betfuz \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin betfuz
COPY --from=newman /opt/smoke/node_modules /opt/smoke/node_modules
COPY deploy/ci/smoke.sh /opt/smoke/deploy/ci/smoke.sh
COPY deploy/smoke/mint_token.py deploy/smoke/topup.postman_collection.json \
     deploy/smoke/treasury.postman_collection.json deploy/smoke/ledger.postman_collection.json \
     /opt/smoke/deploy/smoke/
# The root filesystem is read-only in the task: reports go to its /tmp.
ENV OUT_DIR=/tmp/smoke-results \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# A run-to-completion task: nothing to health-check.
HEALTHCHECK NONE
ENTRYPOINT ["/opt/smoke/deploy/ci/smoke.sh"]
