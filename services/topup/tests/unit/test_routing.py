"""TOPUP_ROUTES and the breaker per provider."""

import pytest
from prometheus_client import CollectorRegistry

from betfuz_common.settings import SettingsError, load_settings
from topup.config import TopupSettings
from topup.metrics import TopupMetrics
from topup.routing import DEV_ROUTES, Breaker, Router, parse_routes

EVERY = ";".join(
    f"{c}:{t}=vtpass,selcom"
    for c in ("mtn", "airtel", "glo", "9mobile")
    for t in ("airtime", "data")
)


def test_routes_name_ordered_providers_per_carrier_and_type() -> None:
    routes = parse_routes(EVERY.replace("mtn:data=vtpass,selcom", "mtn:data=vtpass") + ";")
    assert routes[("mtn", "airtime")] == ("vtpass", "selcom")
    assert routes[("mtn", "data")] == ("vtpass",)
    assert len(parse_routes(DEV_ROUTES)) == 8


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mtn:airtime=vtpass", "no route for"),
        (EVERY + ";mtn:data=paystack", "unknown provider 'paystack'"),
        (EVERY + ";etisalat:airtime=vtpass", "expected carrier:type"),
        (EVERY + ";mtn:sms=vtpass", "expected carrier:type"),
        (EVERY + ";mtn:data", "expected carrier:type"),
        (EVERY + ";mtn:data=", "unknown provider ''"),
        (EVERY + ";mtn:data=vtpass,,selcom", "unknown provider ''"),
        (EVERY.replace("mtn:data=vtpass,selcom", "mtn:data=vtpass,vtpass"), "listed twice"),
        (EVERY + ";mtn:data=vtpass", "routed twice"),
    ],
)
def test_a_wrong_route_is_refused_naming_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_routes(raw)


def test_the_service_refuses_to_start_with_an_unknown_provider() -> None:
    with pytest.raises(SettingsError, match="TOPUP_ROUTES"):
        load_settings(TopupSettings, {"TOPUP_ROUTES": "mtn:airtime=paystack"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_n_consecutive_refusals_and_half_opens_after_its_cooldown() -> None:
    clock = Clock()
    breaker = Breaker(3, 30.0, clock)
    breaker.record(True)
    breaker.record(True)
    breaker.record(False)  # an answer: the count starts again
    breaker.record(True)
    breaker.record(True)
    assert not breaker.is_open()
    breaker.record(True)
    assert breaker.is_open()
    clock.now += 29.9
    assert breaker.is_open()
    clock.now += 0.1
    assert not breaker.is_open()  # half-open: one more try
    breaker.record(True)
    assert breaker.is_open()  # refused again: straight back to its cool-down
    clock.now += 30
    breaker.record(False)
    assert not breaker.is_open()
    assert breaker.refusals == 0


def test_the_router_skips_an_open_provider_and_says_so_in_its_metrics() -> None:
    registry, clock = CollectorRegistry(), Clock()
    router = Router(parse_routes(EVERY), TopupMetrics(registry), threshold=2, clock=clock)
    assert router.candidates("mtn", "airtime") == ["vtpass", "selcom"]
    router.record("vtpass", "refused")
    router.record("vtpass", "refused")
    assert router.candidates("mtn", "airtime") == ["selcom"]
    assert router.candidates("glo", "data") == ["selcom"]
    sample = registry.get_sample_value
    assert sample("topup_provider_circuit_open", {"provider": "vtpass"}) == 1
    assert sample("topup_provider_circuit_open", {"provider": "selcom"}) == 0
    labels = {"provider": "vtpass", "outcome": "refused"}
    assert sample("topup_provider_requests_total", labels) == 2
    clock.now += 31
    router.record("vtpass", "success")
    assert sample("topup_provider_circuit_open", {"provider": "vtpass"}) == 0
    assert router.candidates("mtn", "airtime") == ["vtpass", "selcom"]
