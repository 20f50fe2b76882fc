"""JWTs for tests, signed with the test secret the test settings use."""

from __future__ import annotations

from collections.abc import Iterable

from betfuz_common.auth import issue_token

TEST_JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 - test-only key


def bearer(user_id: str, roles: Iterable[str] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(TEST_JWT_SECRET, user_id, roles=roles)}"}
