# syntax=docker/dockerfile:1
# Dev-only local EVM chain for compose.yaml: anvil from the npm package @foundry-rs/anvil (its
# binary ships inside the package), installed from the repository's package-lock.json.

# Node.js 20.19.5 on Debian bookworm, pinned by tag and multi-architecture index digest.
FROM node:20.19.5-bookworm-slim@sha256:9e70124bd00f47dd023e349cd587132ae61892acc0e47ed641416c3e18f401c3
WORKDIR /opt/tools
COPY package.json package-lock.json ./
# Install scripts stay off: anvil's only picks a platform binary, which its optional dependency ships.
RUN npm ci --no-audit --no-fund --ignore-scripts && npm cache clean --force
# uid 1000 is the image's own `node` user.
USER 1000:1000
EXPOSE 8545
HEALTHCHECK NONE
ENTRYPOINT ["/opt/tools/node_modules/.bin/anvil", "--host", "0.0.0.0", "--port", "8545"]
