"""Plans are cached for a short TTL; a price never comes from an expired entry."""

from datetime import datetime
from decimal import Decimal

import pytest

from topup.catalogue import Catalogue
from topup.errors import PlansUnavailable
from topup.ports import Plan, ProcessOrder, ProviderResult


class Plans:
    name = "vtpass"
    sells_data_by_amount = False

    def __init__(self) -> None:
        self.fetches = 0
        self.price = Decimal("100.00")
        self.down = False

    def transaction_id(self, reference: str, now: datetime) -> str:
        return reference

    async def process(self, order: ProcessOrder) -> ProviderResult:
        raise AssertionError("not called")

    async def query(self, transid: str) -> ProviderResult:
        raise AssertionError("not called")

    async def plans(self, carrier: str) -> list[Plan] | None:
        self.fetches += 1
        if self.down:
            raise PlansUnavailable("down")
        return [Plan(f"{carrier}-100mb", "100MB - 1 day", self.price, "1 day")]


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_plans_are_fetched_once_per_ttl_and_again_after_it() -> None:
    provider, clock = Plans(), Clock()
    catalogue = Catalogue(60, clock)
    first = await catalogue.plan(provider, "mtn", "mtn-100mb")
    clock.now = 59.9
    assert await catalogue.plan(provider, "mtn", "mtn-100mb") == first
    assert provider.fetches == 1
    provider.price = Decimal("120.00")
    clock.now = 60.0
    again = await catalogue.plan(provider, "mtn", "mtn-100mb")
    assert again is not None
    assert (again.price, provider.fetches) == (Decimal("120.00"), 2)
    assert await catalogue.plan(provider, "mtn", "nope") is None


async def test_an_expired_price_is_never_used_when_the_provider_cannot_be_asked() -> None:
    provider, clock = Plans(), Clock()
    catalogue = Catalogue(60, clock)
    await catalogue.plans(provider, "mtn")
    provider.down, clock.now = True, 61.0
    with pytest.raises(PlansUnavailable):
        await catalogue.plans(provider, "mtn")
    with pytest.raises(PlansUnavailable):  # and still not afterwards
        await catalogue.plan(provider, "mtn", "mtn-100mb")
