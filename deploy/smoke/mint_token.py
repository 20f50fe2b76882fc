"""Print a short-lived smoke-identity JWT: `mint_token.py smoke-<run> [--role R] [--ttl S]`.

The smoke tests never act for a user and never hold the platform's signing key. Their tokens are
signed with SMOKE_JWT_SECRET, a key of their own (a Secrets Manager secret that only the smoke
runner task and the services' execution roles can read), and carry the claims the services
accept from the smoke identity, on GET and HEAD requests only:

- `aud` "betfuz-smoke" (never the platform's "authenticated"),
- `sub` starting with "smoke-", so it can never name a real user,
- `exp` at most 15 minutes after `iat`,
- an optional `role` (e.g. "compliance" for the ledger's read routes).

Standard library only, so the smoke runner image needs no project dependency.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

AUDIENCE = "betfuz-smoke"
SUBJECT_PREFIX = "smoke-"
MAX_TTL_SECONDS = 15 * 60
MIN_KEY_BYTES = 32


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(secret: str, subject: str, role: str | None, now: int, ttl_seconds: int) -> str:
    if len(secret.encode()) < MIN_KEY_BYTES:
        raise ValueError(f"SMOKE_JWT_SECRET must be at least {MIN_KEY_BYTES} bytes")
    if not subject.startswith(SUBJECT_PREFIX) or subject == SUBJECT_PREFIX:
        raise ValueError(f"the smoke identity's subject must start with {SUBJECT_PREFIX!r}")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a smoke token lives at most {MAX_TTL_SECONDS} seconds")
    header = {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, str | int] = {"sub": subject, "aud": AUDIENCE, "iat": now}
    claims["exp"] = now + ttl_seconds
    if role:
        claims["role"] = role
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("subject", help="smoke-<something>, e.g. the run id")
    parser.add_argument("--role", default=None)
    parser.add_argument("--ttl", type=int, default=MAX_TTL_SECONDS, help="seconds until it expires")
    args = parser.parse_args(argv)
    secret = os.environ.get("SMOKE_JWT_SECRET", "")
    try:
        print(mint(secret, args.subject, args.role, int(time.time()), args.ttl))
    except ValueError as exc:
        print(f"mint_token: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
