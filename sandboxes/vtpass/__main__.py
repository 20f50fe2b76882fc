"""`python -m sandboxes.vtpass`: serve the sandbox on $PORT (default 9103)."""

from __future__ import annotations

import os

import uvicorn

from betfuz_common.logging import configure_logging
from sandboxes.vtpass.app import SandboxConfig, create_app


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    uvicorn.run(
        create_app(SandboxConfig.from_env()),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "9103")),
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
