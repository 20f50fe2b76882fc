"""What topup refuses, without HTTP; ERRORS is how the edge answers each (create_service_app)."""

from __future__ import annotations

from betfuz_common.errors import SHARED_ERRORS, ErrorMap, ProblemType


class InsufficientFunds(Exception):
    """The wallet does not cover the topup; nothing was written."""


class TopupNotFound(Exception):
    """No such topup for this caller (another user's topup is the same as none)."""


class ProviderUnavailable(Exception):
    """Every provider on the route is in its cool-down (circuit open); nothing was written."""


class PlansUnavailable(Exception):
    """The provider's plan list could not be had fresh; no price is taken from a stale one."""


class UnknownProduct(Exception):
    """No plan with this productCode on the routed provider's list."""


class PriceMismatch(Exception):
    """The amount sent is not the plan's price."""


class ProductCodeRequired(Exception):
    """Data on this route is sold only as plans: a productCode is needed."""


class NoProductCodeForAirtime(Exception):
    """Airtime is bought by amount: a productCode means the client meant data."""


class TopupNotPending(Exception):
    """An operations action for a pending topup found it settled (by a webhook or a query
    meanwhile): nothing changed."""

    def __init__(self, status: object) -> None:
        super().__init__(f"the topup is already {status}")


ERRORS: ErrorMap = {
    ProviderUnavailable: ProblemType(
        503,
        "provider_unavailable",
        "Provider unavailable",
        "no provider can take this topup right now; nothing was charged, try again shortly",
        headers={"Retry-After": "30"},
    ),
    PlansUnavailable: ProblemType(
        503,
        "plans_unavailable",
        "Plans unavailable",
        "the provider's data plans cannot be read right now; try again shortly",
        headers={"Retry-After": "10"},
    ),
    UnknownProduct: ProblemType(
        422, "unknown_product", "Unknown product", "no such data plan for this carrier"
    ),
    PriceMismatch: ProblemType(
        422, "price_mismatch", "Price mismatch", "the amount is not the plan's price"
    ),
    ProductCodeRequired: ProblemType(
        422,
        "product_code_required",
        "Product code required",
        "data for this carrier is sold as plans: send a productCode (GET /topup/products)",
    ),
    NoProductCodeForAirtime: ProblemType(
        422,
        "product_code_not_allowed",
        "Product code not allowed",
        "airtime is bought by amount; productCode is for data plans",
    ),
    InsufficientFunds: ProblemType(
        402,
        "insufficient_funds",
        "Insufficient funds",
        "your wallet balance does not cover this topup",
    ),
    TopupNotFound: ProblemType(404, "topup_not_found", "Not found", "no such topup"),
    **SHARED_ERRORS,
}
