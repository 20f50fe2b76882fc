import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from betfuz_common.logging import REDACTED, configure_logging, get_logger, redact_processor


def test_sensitive_keys_are_replaced_wherever_they_nest() -> None:
    event = redact_processor(
        None,
        "info",
        {
            "event": "x",
            "bvn": "22222222222",
            "payload": {"api_key": "k", "nested": [{"jwt_secret": "s"}], "ok": "fine"},
        },
    )
    assert event["bvn"] == REDACTED
    assert event["payload"]["api_key"] == REDACTED
    assert event["payload"]["nested"][0]["jwt_secret"] == REDACTED
    assert event["payload"]["ok"] == "fine"


def test_sensitive_values_are_masked_inside_free_text() -> None:
    event = redact_processor(
        None,
        "info",
        {
            "event": "customer 22222222222 sent Authorization: Bearer abc.def.ghi",
            "url": "postgresql://svc:hunter2@db:5432/x",
            "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig",
        },
    )
    assert "22222222222" not in event["event"]
    assert "abc.def.ghi" not in event["event"]
    assert "hunter2" not in event["url"]
    assert event["jwt"] == REDACTED


def test_amounts_and_e164_phones_are_left_readable() -> None:
    event = redact_processor(None, "info", {"event": "topup 1000.00 to +2348012345678"})
    assert event["event"] == "topup 1000.00 to +2348012345678"


@pytest.fixture
def configured_logging() -> Iterator[None]:
    configure_logging("INFO")
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.mark.usefixtures("configured_logging")
def test_configured_logs_are_json_lines_without_the_bvn(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.contextvars.bind_contextvars(request_id="rid-1")
    get_logger("test").info("account_created", bvn="12345678901", note="bvn 12345678901")
    structlog.contextvars.clear_contextvars()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["request_id"] == "rid-1"
    assert "12345678901" not in line


@pytest.mark.parametrize(
    "text",
    [
        "authorization: BEARER abc.def",
        "header was Selcom dGVzdA==",
        "basic\tdXNlcjpwYXNz",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig",
        "bvn=12345678901;",
        "redis://user:hunter2@cache:6379/0",
    ],
)
def test_every_masked_pattern_still_applies_after_the_quick_scan(text: str) -> None:
    masked = redact_processor(None, "info", {"event": text, "nested": {"note": [text]}})
    for secret in ("abc.def", "dGVzdA==", "dXNlcjpwYXNz", "eyJzdWIiOiJ1In0", "12345678901"):
        assert secret not in masked["event"]
        assert secret not in masked["nested"]["note"][0]
    assert "hunter2" not in masked["event"]


def test_numbers_and_plain_text_pass_through_unchanged() -> None:
    event = {"event": "request", "status": 201, "duration_ms": 3.25, "ok": True, "x": None}
    assert redact_processor(None, "info", dict(event)) == event


@pytest.mark.usefixtures("configured_logging")
def test_httpx_request_lines_are_dropped_but_its_warnings_kept() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO)
        assert logger.isEnabledFor(logging.WARNING)
