# Images: build the release images with podman and boot them as ECS would (deploy/ecs/README.md,
# "Images built and booted here"). Container work stays out of `make test`.
# catatonit is podman's --init (a Recommends: --no-install-recommends leaves it out).
IMAGE_PACKAGES := podman buildah debootstrap runc uidmap fuse-overlayfs slirp4netns catatonit
IMAGE_TOOLS := podman buildah debootstrap runc
# podman's settings for this repository: runc and ulimits a process may raise here.
images image-test: export CONTAINERS_CONF := $(CURDIR)/deploy/images/containers.conf

.PHONY: image-deps
image-deps: ## Install podman and friends from Debian packages if any is missing (needs root)
	@missing=""; for tool in $(IMAGE_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	[ -x /usr/libexec/podman/catatonit ] || missing="$$missing catatonit"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(IMAGE_PACKAGES) >/dev/null; \
	fi

.PHONY: images
images: install image-deps ## Build the three service images and the smoke runner with podman (PYTHON_IMAGE=<base> to use another base)
	$(BIN)/python -m deploy.images.image_test

.PHONY: image-test
image-test: install db image-deps ## Build, then boot each image in prod mode with its task definition's variables; migrate, health, smoke, SIGTERM (binds :8080: run under the stack lock)
	$(BIN)/python -m deploy.images.image_test --boot
