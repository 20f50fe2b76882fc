# syntax=docker/dockerfile:1
# The image of one Betfuz service, one image per service from this one file. Build context is the
# repository root:
#   podman build --format docker -f deploy/images/service.Dockerfile --build-arg SERVICE=topup .
# (`make images` builds all three; deploy/ci/build-and-push.sh builds the release images.)
# Run: the image serves HTTP on $PORT; `migrate` as its command is the one-off migration task;
# ledger also has `deploy` and `worker` (the entry point is `python -m <service>`).

# CPython 3.11.14 on Debian bookworm, pinned by tag AND by the digest of its multi-architecture
# index (the digest wins; the tag says what it is). Where no registry is reachable, a locally
# made base stands in: --build-arg PYTHON_IMAGE=<local image> (deploy/images/base-image.sh).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
# checkov:skip=CKV_DOCKER_7:FROM names the build argument, whose default is pinned by tag and digest above.
FROM ${PYTHON_IMAGE} AS builder
# topup, treasury or ledger: the directory under services/ and the package it installs.
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN case "${SERVICE}" in topup|treasury|ledger) ;; *) echo "SERVICE=topup|treasury|ledger" >&2; exit 1 ;; esac \
 && python -m venv /opt/venv && python -m venv /opt/build
# Exactly the locked sets: every file checked against its hash, no resolver, wheels only
# (so the builder needs no compiler and cannot run a package's setup.py).
COPY requirements/build.lock /tmp/build.lock
RUN /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/build.lock
COPY services/${SERVICE}/requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock
# Our own two projects, the shared library and the service, built into wheels with the locked
# backend and installed like any other package (migrations and artifacts ship inside them).
COPY libs/common /src/libs/common
COPY services/${SERVICE} /src/services/${SERVICE}
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels \
      /src/libs/common /src/services/${SERVICE} \
 && /opt/venv/bin/pip install --no-deps /tmp/wheels/*.whl
# ENTRYPOINT cannot expand a build argument, so the service's name is written into a one-line
# launcher once. `exec` replaces the shell: python receives ECS's SIGTERM directly.
RUN printf '#!/bin/sh\nexec /opt/venv/bin/python -m %s "$@"\n' "${SERVICE}" >/opt/venv/bin/betfuz-service \
 && chmod 0755 /opt/venv/bin/betfuz-service

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="betfuz-${SERVICE}" \
      org.opencontainers.image.description="Betfuz ${SERVICE} service"
# The entry point reads UVICORN_TIMEOUT_KEEP_ALIVE (seconds an idle keep-alive connection stays
# open; above the ALB's 60 s idle timeout so the ALB, not uvicorn, closes idle connections) and
# UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN (seconds to drain in-flight requests after SIGTERM; below
# the task's 30 s stopTimeout, after which ECS sends SIGKILL).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=prod \
    PORT=8080 \
    UVICORN_TIMEOUT_KEEP_ALIVE=75 \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=25 \
    FORWARDED_ALLOW_IPS="*" \
    BETFUZ_SERVICE=${SERVICE}
RUN groupadd --system --gid 10001 betfuz \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin betfuz
# The venv holds everything, our code included; it stays root-owned, read-only to the user.
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8080
# uvicorn drains on SIGTERM; no curl in the image, so the check is Python's urllib.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=2)"]
ENTRYPOINT ["/opt/venv/bin/betfuz-service"]
