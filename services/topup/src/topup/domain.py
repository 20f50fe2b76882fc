"""What topup is about, with no HTTP and no SQL: carriers, products, a purchase and its states.

`Carrier` is the one list of networks: the request schema, the configuration of provider codes
and the OpenAPI document all come from it (the database's CHECK constraint says the same in
its migration).
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from betfuz_common.models import DomainValue as Value


class Carrier(enum.StrEnum):
    MTN = "mtn"
    AIRTEL = "airtel"
    GLO = "glo"
    NINE_MOBILE = "9mobile"


class ProductType(enum.StrEnum):
    AIRTIME = "airtime"
    DATA = "data"


class TopupStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


class Order(Value):
    """What the customer asked for, normalised (E.164 phone, exact amount). A data plan order
    names its plan (`product_code`); its amount is the plan's price, filled in by pricing."""

    phone: str
    carrier: Carrier
    amount: Decimal | None
    type: ProductType
    product_code: str | None = None

    def canonical(self) -> dict[str, str]:
        """What identifies the purchase, in a form that does not depend on how it was typed.
        A plan is identified by its code, not by its price (which the provider may change)."""
        if self.product_code is not None:
            return {
                "phone": self.phone,
                "carrier": self.carrier.value,
                "product_code": self.product_code,
                "type": self.type.value,
            }
        return {
            "phone": self.phone,
            "carrier": self.carrier.value,
            "amount": format(self.amount, "f"),
            "type": self.type.value,
        }

    def priced(self, amount: Decimal) -> Order:
        return self.model_copy(update={"amount": amount})


class Topup(Value):
    """One purchase as the books hold it."""

    id: str
    user_id: str
    phone: str
    carrier: Carrier
    amount: Decimal
    type: ProductType
    status: TopupStatus
    reference: str  # ours
    provider: str = "selcom"  # the provider that got the order (and that every question asks)
    provider_reference: str | None = None  # the id that provider knows it by (None: reference)
    product_code: str | None = None  # the data plan, when bought as one
    external_reference: str | None
    idempotency_key: str
    error_message: str | None
    result_code: str | None
    attempts: int
    review_flag: str | None
    created_at: datetime
    completed_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Topup:
        return cls.model_validate(dict(row))

    def order(self) -> Order:
        """What the customer asked for, as the purchase recorded it."""
        return Order(
            phone=self.phone,
            carrier=self.carrier,
            amount=self.amount,
            type=self.type,
            product_code=self.product_code,
        )

    @property
    def transid(self) -> str:
        """What the recorded provider knows this topup by."""
        return self.provider_reference or self.reference


class Purchase(Value):
    """The answer to a purchase: the topup as it was answered, and whether it is a replay."""

    topup: Topup
    replayed: bool = False
