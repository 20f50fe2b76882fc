"""Print a short-lived HS256 JWT for the deploy smoke tests: `mint_token.py <user> [--role R]`.

Same interface as `python -m dev.token`, but signed with JWT_SECRET from the environment (the
deploy job reads it from Secrets Manager) and standard library only, so the deploy job needs no
project dependencies. Claims follow the Supabase layout the services accept
(docs/DESIGN.md section 5): `sub` is the user id, `role` the role, `aud` "authenticated".
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import time


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(secret: str, user: str, role: str, now: int, ttl_seconds: int) -> str:
    header: dict[str, str | int] = {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, str | int] = {"sub": user, "role": role, "aud": "authenticated"}
    claims |= {"iat": now, "exp": now + ttl_seconds}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user")
    parser.add_argument("--role", default="authenticated")
    parser.add_argument("--ttl", type=int, default=900, help="seconds until it expires")
    args = parser.parse_args()
    print(mint(os.environ["JWT_SECRET"], args.user, args.role, int(time.time()), args.ttl))


if __name__ == "__main__":
    main()
