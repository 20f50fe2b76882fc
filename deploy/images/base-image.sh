#!/usr/bin/env bash
# Makes the local stand-in for the pinned python:3.11-slim base where no container registry is
# reachable: Debian bookworm (minbase) with Debian's python3, debootstrapped from the same Debian
# mirror apt already uses on this host, trusting the same CA certificates as the host (pip in the
# image build must trust the same path to the package index). Done once: the image stays in
# podman's store and later runs reuse it. Usage: base-image.sh [IMAGE]. Needs root.
set -euo pipefail
image=${1:-localhost/bookworm-python:3.11-local}

if podman image exists "$image"; then
  echo "base image ${image}: cached"
  exit 0
fi

# The mirror is read from apt's own configuration, so nothing here names a host.
# shellcheck disable=SC2016 # $(SITE) is apt's own placeholder, not a shell expansion
mirror=$(apt-get indextargets --format '$(SITE)' 'Created-By: Packages' 'Codename: bookworm' 2>/dev/null | head -n1)
if [[ -z "$mirror" ]]; then
  echo "cannot find the Debian mirror apt uses (run apt-get update first)" >&2
  exit 1
fi

rootfs=$(mktemp -d /var/tmp/bookworm-python.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
started=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  bookworm "$rootfs" "$mirror" >"${rootfs}.log" 2>&1 || { tail -n 40 "${rootfs}.log" >&2; exit 1; }
rm -f "${rootfs}.log"
# The host's extra trust anchors (e.g. an egress proxy's CA), then the bundle rebuilt in the image.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "${rootfs}/usr/local/share/ca-certificates/"
fi
chroot "$rootfs" update-ca-certificates >/dev/null
# Nothing of the build host's apt lists or caches in the image.
rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/*.bin
tar -C "$rootfs" -c . | podman import --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' - "$image" >/dev/null
echo "base image ${image}: made in $(($(date +%s) - started)) s"
