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


class BvnUnavailable(Exception):
    """The BVN is on another user's account, or held by another user's claim in progress."""


def _existing_account(exc: Exception) -> Mapping[str, Any]:
    assert isinstance(exc, AccountExists)
    return {"account": AccountView.model_validate(exc.account).model_dump(by_alias=True)}


# A BVN in use by someone else is answered exactly as a bank's refusal of the details is: any
# other answer would tell whoever holds a token whether a BVN belongs to a Betfuz customer.
DETAILS_REFUSED = ProblemType(
    422,
    "provider_rejected",
    "Details refused by the bank",
    "the bank could not open an account with these details",
)

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
    BvnUnavailable: DETAILS_REFUSED,
    ProviderRejected: DETAILS_REFUSED,
    ProviderTimeout: PROVIDER_TIMEOUT,
    ProviderError: PROVIDER_ERROR,
    **SHARED_ERRORS,
}
