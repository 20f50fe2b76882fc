"""The topup API's wire models: the one source of its requests, answers and OpenAPI schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
)

from betfuz_common.models import NotificationModel, QueryModel, RequestModel, ResponseModel
from betfuz_common.money import NairaIn, NairaOut, parse_naira
from betfuz_common.pagination import Page
from betfuz_common.phones import NigerianMobile
from betfuz_common.timestamps import Timestamp
from topup.domain import Carrier, Order, ProductType, TopupStatus

MESSAGES = {
    TopupStatus.PENDING: "Topup initiated. You will receive confirmation within 5 minutes.",
    TopupStatus.COMPLETED: "Topup successful.",
    TopupStatus.FAILED: "Topup failed. Your wallet has been refunded.",
}
TOPUP_ID_PATTERN = r"^top_[0-9a-f]{24}$"


# A provider's plan code (VTpass's variation_code): short, printable ASCII.
ProductCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class TopupRequest(RequestModel):
    """POST /topup: the spec's body. The amount's bounds are configuration (TOPUP_MIN_AMOUNT,
    TOPUP_MAX_AMOUNT), handed to validation as its context. Data sold as plans takes a
    `productCode` (GET /topup/products); its `amount`, when sent, must be the plan's price."""

    phone: NigerianMobile
    carrier: Carrier
    type: ProductType
    product_code: ProductCode | None = Field(
        default=None, description="a data plan's productCode, from GET /topup/products"
    )
    # After productCode, whose presence decides whether an amount is needed.
    amount: NairaIn | None = Field(default=None, validate_default=True)

    @field_validator("amount")
    @classmethod
    def _within_bounds(cls, amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if amount is None:
            if info.data.get("product_code") is None:
                raise ValueError("amount is required (or, for a data plan, productCode)")
            return None
        bounds = (info.context or {}).get("amount_bounds")
        if bounds is not None:
            parse_naira(amount, minimum=bounds[0], maximum=bounds[1])
        return amount

    def order(self) -> Order:
        return Order.model_validate(self.model_dump())


class TopupCreated(ResponseModel):
    """POST /topup's answer, as the spec shows it."""

    transaction_id: str = Field(validation_alias="id")
    status: TopupStatus
    reference: str = Field(description="ours, the provider's transid")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message(self) -> str:
        return MESSAGES[self.status]


class TopupView(TopupCreated):
    """One topup as its owner sees it."""

    amount: NairaOut
    phone: str
    carrier: Carrier
    type: ProductType
    product_code: str | None
    external_reference: str | None
    error_message: str | None
    created_at: Timestamp
    completed_at: Timestamp | None


class TopupPage(Page[TopupView]):
    pass


class TopupPath(QueryModel):
    transaction_id: Annotated[str, Field(pattern=TOPUP_ID_PATTERN)]


def _cut(limit: int) -> BeforeValidator:
    """Free text the provider adds: kept to `limit` characters rather than refused."""
    return BeforeValidator(lambda v: v[:limit] if isinstance(v, str) else v)


Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
# Selcom's statuses are words (SUCCESS, FAILED, PENDING); the column holds 32 characters.
Status = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class SelcomNotification(NotificationModel):
    """Selcom's result callback, in its own field names."""

    order_id: Required
    status: Status
    reference_id: Annotated[str | None, _cut(128)] = None
    result_code: Annotated[str | None, _cut(16)] = None
    result_description: Annotated[str | None, _cut(500)] = None


class ProductsQuery(QueryModel):
    carrier: Carrier
    type: ProductType = ProductType.DATA


class ProductView(ResponseModel):
    product_code: str
    name: str
    price: NairaOut
    validity: str | None = Field(description="as the provider states it, when it does")


class ProductList(ResponseModel):
    carrier: Carrier
    type: ProductType
    by_amount: bool = Field(
        description="true: this route sells by a bare amount (no plans); false: buy a plan"
    )
    products: list[ProductView]


class VtpassTransaction(NotificationModel):
    status: Annotated[str | None, _cut(32)] = None
    transaction_id: Annotated[str | None, BeforeValidator(lambda v: str(v)[:128] if isinstance(
        v, int | str) and not isinstance(v, bool) else None)] = Field(
        default=None, alias="transactionId"
    )  # fmt: skip


class VtpassContent(NotificationModel):
    transactions: VtpassTransaction | None = None


class VtpassUpdate(NotificationModel):
    request_id: Required = Field(alias="requestId")
    code: Annotated[str | None, _cut(16)] = None
    content: VtpassContent | None = None


class VtpassNotification(NotificationModel):
    """VTpass's transaction notification, in its own field names. Not signed: it only makes
    us requery VTpass."""

    type: Annotated[str | None, _cut(64)] = None
    data: VtpassUpdate


class VtpassReceipt(ResponseModel):
    """What VTpass expects back so that it stops re-sending."""

    response: Literal["success"] = "success"
    outcome: Literal["applied", "duplicate", "contradicting", "unknown_reference", "noted"]


class NotificationReceipt(ResponseModel):
    received: Literal[True] = True
    outcome: Literal["applied", "duplicate", "contradicting", "unknown_reference", "noted"]
