"""What the treasury rules refuse, said without HTTP; ERRORS is how the edge answers each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from betfuz_common.errors import (
    PROVIDER_ERROR,
    PROVIDER_TIMEOUT,
    SHARED_ERRORS,
    ErrorMap,
    ProblemType,
)
from treasury.domain import Account
from treasury.provider import ProviderError, ProviderRejected, ProviderTimeout
from treasury.schemas import AccountView


class AccountNotFound(Exception):
    pass


class AccountExists(Exception):
    def __init__(self, account: Account) -> None:
        super().__init__("the user already has an account")
        self.account = account


class CreationInProgress(Exception):
    """Another request for the same user is talking to Wema right now."""


class BvnAlreadyLinked(Exception):
    """The BVN belongs to another user's account."""


def _existing_account(exc: Exception) -> Mapping[str, Any]:
    assert isinstance(exc, AccountExists)
    return {"account": AccountView.model_validate(exc.account).model_dump(by_alias=True)}


ERRORS: ErrorMap = {
    AccountNotFound: ProblemType(
        404, "account_not_found", "Not found", "this user has no bank account yet"
    ),
    AccountExists: ProblemType(
        409,
        "account_exists",
        "Account exists",
        "this user already has a bank account",
        extra=_existing_account,
        members={"account": "AccountView"},
    ),
    CreationInProgress: ProblemType(
        409,
        "account_creation_in_progress",
        "Creation in progress",
        "this user's account is being created; retry shortly",
        headers={"Retry-After": "2"},
    ),
    BvnAlreadyLinked: ProblemType(
        409, "bvn_linked", "BVN already linked", "this BVN is linked to another account"
    ),
    ProviderRejected: ProblemType(422, "provider_rejected", "Details refused by the bank"),
    ProviderTimeout: PROVIDER_TIMEOUT,
    ProviderError: PROVIDER_ERROR,
    **SHARED_ERRORS,
}
