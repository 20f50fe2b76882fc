"""`python -m dev.stack_env [--need VAR]... <command> [args]`: run a command with what the
running local stack deployed (`.run/stack.env`) in its environment.

A variable already set in the environment wins: it is how a person points a command elsewhere
(another chain, another database). With `--need VAR`, a VAR found in neither place stops the
command with a message that says how to get it, instead of the command's own error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from dev.state import PID_KEY, STATE_FILE, read_state, running_state


def merged_environment(
    environ: Mapping[str, str], state: Mapping[str, str] | None
) -> dict[str, str]:
    recorded = {k: v for k, v in (state or {}).items() if k != PID_KEY}
    return {**recorded, **environ}


def missing_message(missing: Sequence[str], *, stale: bool) -> str:
    names = ", ".join(missing)
    if stale:
        why = f"{STATE_FILE.name} is left from a local stack that has stopped"
    else:
        why = "the local stack is not running"
    return (
        f"{names} is not set and {why}.\n"
        "Start the stack in another terminal with `make run` (it records what it deployed in "
        f".run/{STATE_FILE.name}), or set {names} yourself."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.stack_env", description=__doc__)
    parser.add_argument("--need", action="append", default=[], metavar="VAR")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the command to run")
    state = running_state()
    env = merged_environment(os.environ, state)
    missing = [name for name in args.need if not env.get(name)]
    if missing:
        print(missing_message(missing, stale=read_state() is not None), file=sys.stderr)
        return 2
    os.execvpe(args.command[0], args.command, env)  # noqa: S606 - the make target's own command


if __name__ == "__main__":
    sys.exit(main())
