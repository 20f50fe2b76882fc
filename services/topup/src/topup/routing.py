"""Which provider gets an order: `TOPUP_ROUTES` names, per carrier and product type, an ordered
list of providers; a circuit breaker per provider skips one that keeps refusing.

An order moves to the next provider on its route ONLY after a provable non-acceptance by the
one before (outcome "refused": the connection was refused before the request went out, or an
answer the provider documents as "not processed"). Never after a timeout, a 5xx or an answer we
do not recognise: the first provider may have taken the order, and a second delivery of the
same airtime is money lost.

The breaker counts consecutive refusals per provider; at `threshold` it opens and the provider
is skipped for `cooldown_seconds`; after that an order may try it again (half-open): a refusal
opens it again at once, any other answer closes it. Timeouts and unknown answers are not
refusals: they do not open it, and (the provider was reachable) they close it. State is per
process: each replica learns on its own, which only delays the skip by a few refusals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from topup.domain import Carrier, ProductType
from topup.metrics import TopupMetrics
from topup.ports import Outcome

PROVIDERS: tuple[str, ...] = ("selcom", "vtpass")
CARRIERS: tuple[str, ...] = tuple(c.value for c in Carrier)
PRODUCT_TYPES: tuple[str, ...] = tuple(t.value for t in ProductType)
Routes = Mapping[tuple[str, str], tuple[str, ...]]

DEV_ROUTES = ";".join(f"{carrier}:{kind}=selcom" for carrier in CARRIERS for kind in PRODUCT_TYPES)


def parse_routes(raw: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """`mtn:airtime=vtpass,selcom;mtn:data=vtpass;...`: every carrier:type pair, each an
    ordered list of known providers without repeats."""
    routes: dict[tuple[str, str], tuple[str, ...]] = {}
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        name, sep, listed = item.partition("=")
        carrier, _, kind = name.strip().partition(":")
        if not sep or carrier not in CARRIERS or kind not in PRODUCT_TYPES:
            raise ValueError(f"expected carrier:type=provider[,provider], got {item[:64]!r}")
        providers = tuple(p.strip() for p in listed.split(","))
        unknown = [p for p in providers if p not in PROVIDERS]
        if unknown or not providers:
            raise ValueError(f"unknown provider {unknown[0][:32]!r} for {name.strip()}")
        if len(set(providers)) != len(providers):
            raise ValueError(f"a provider is listed twice for {name.strip()}")
        if (carrier, kind) in routes:
            raise ValueError(f"{name.strip()} is routed twice")
        routes[(carrier, kind)] = providers
    missing = [f"{c}:{t}" for c in CARRIERS for t in PRODUCT_TYPES if (c, t) not in routes]
    if missing:
        raise ValueError(f"no route for {', '.join(missing)}")
    return routes


@dataclass
class Breaker:
    threshold: int
    cooldown_seconds: float
    clock: Callable[[], float] = time.monotonic
    refusals: int = 0
    opened_at: float | None = None

    def is_open(self) -> bool:
        """Skipped now: open, and still within its cool-down."""
        if self.opened_at is None:
            return False
        return self.clock() - self.opened_at < self.cooldown_seconds

    def record(self, refused: bool) -> None:
        if not refused:
            self.refusals, self.opened_at = 0, None
            return
        self.refusals += 1
        if self.refusals >= self.threshold:
            self.opened_at = self.clock()  # (re)opens: a half-open try that was refused too


class Router:
    def __init__(
        self,
        routes: Routes,
        metrics: TopupMetrics,
        *,
        threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = dict(routes)
        self._metrics = metrics
        self.breakers = {p: Breaker(threshold, cooldown_seconds, clock) for p in PROVIDERS}
        for provider in PROVIDERS:
            metrics.circuit_open.labels(provider).set(0)

    def route(self, carrier: str, kind: str) -> tuple[str, ...]:
        return self.routes[(carrier, kind)]

    def candidates(self, carrier: str, kind: str) -> list[str]:
        """The route's providers in order, without those in their cool-down."""
        return [p for p in self.route(carrier, kind) if not self.breakers[p].is_open()]

    def record(self, provider: str, outcome: Outcome) -> None:
        """What a process call to `provider` answered: metrics, and the breaker's count."""
        self._metrics.provider_requests.labels(provider, outcome).inc()
        breaker = self.breakers[provider]
        breaker.record(outcome == "refused")
        self._metrics.circuit_open.labels(provider).set(1 if breaker.is_open() else 0)
