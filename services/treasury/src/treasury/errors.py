"""What the treasury rules refuse, said without HTTP; the routes turn these into problem+json."""

from __future__ import annotations

from typing import Any


class TreasuryError(Exception):
    pass


class UserNotFound(TreasuryError):
    """The token names a user the core platform does not know."""


class AccountNotFound(TreasuryError):
    pass


class AccountExists(TreasuryError):
    def __init__(self, account: dict[str, Any]) -> None:
        super().__init__("the user already has an account")
        self.account = account


class CreationInProgress(TreasuryError):
    """Another request for the same user is talking to Wema right now."""


class BvnAlreadyLinked(TreasuryError):
    """The BVN belongs to another user's account."""


class InvalidCursor(TreasuryError):
    pass
