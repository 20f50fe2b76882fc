"""Data plans per provider and carrier, cached for a short TTL.

A plan's price is what the customer is debited, so it is never taken from an expired entry:
past the TTL the list is fetched again, and when that fails the purchase is refused (503)
rather than priced from memory. One fetch per key at a time (a lock), so a burst of purchases
after expiry asks the provider once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from topup.errors import ProductCodeRequired
from topup.ports import AirtimeProvider, Plan


class Catalogue:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, list[Plan]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _fresh(self, key: tuple[str, str]) -> list[Plan] | None:
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            return None
        return entry[1]

    async def plans(self, provider: AirtimeProvider, carrier: str) -> list[Plan]:
        """The provider's plans for `carrier`, fresh (raises PlansUnavailable otherwise)."""
        key = (provider.name, carrier)
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh
        async with self._locks.setdefault(key, asyncio.Lock()):
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            fetched_at = self._clock()
            plans = await provider.plans(carrier)
            if plans is None:
                raise ProductCodeRequired  # not reached: routing asks plan sellers only
            self._entries[key] = (fetched_at, plans)
            return plans

    async def plan(self, provider: AirtimeProvider, carrier: str, code: str) -> Plan | None:
        for plan in await self.plans(provider, carrier):
            if plan.product_code == code:
                return plan
        return None
