"""Tests that drive the running local stack on its fixed ports (8000, 8443, 8001-8003).

They run only from dev/ci_rehearse.sh (which starts `make run`, sets BETFUZ_STACK_TESTS=1 and
holds the machine's stack lock), never inside `make test`: other worktrees run that at the same
time, with no stack of theirs on these ports."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("BETFUZ_STACK_TESTS") == "1" else ["test_*.py"]
