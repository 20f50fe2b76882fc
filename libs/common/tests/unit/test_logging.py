import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
import structlog

from betfuz_common.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_processor,
    render_console,
)


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


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as sys.stdout does in a person's shell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def configured(stream: io.StringIO, **environ: str) -> io.StringIO:
    configure_logging("INFO", stream=stream, environ=environ)
    return stream


@pytest.mark.usefixtures("reset_logging")
def test_logs_are_json_lines_when_stdout_is_a_pipe_or_a_file() -> None:
    out = configured(io.StringIO())
    get_logger("test").info("topup_created", amount="1000.00")
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["topup_created", "Started server process [1]"]
    assert "\033[" not in out.getvalue()


@pytest.mark.usefixtures("reset_logging")
def test_a_terminal_gets_one_readable_coloured_line_per_event() -> None:
    out = configured(Terminal())
    get_logger("test").info("topup_created", amount="1000.00", note="two words")
    (line,) = out.getvalue().splitlines()
    assert "\033[" in line
    plain = re.sub(r"\033\[[0-9;]*m", "", line)
    assert "topup_created amount=1000.00 note='two words'" in plain
    assert not line.startswith("{")


@pytest.mark.usefixtures("reset_logging")
def test_no_color_keeps_a_terminal_line_free_of_escape_codes() -> None:
    out = configured(Terminal(), NO_COLOR="1")
    get_logger("test").warning("topup_sla_breached", reference="TOP1")
    line = out.getvalue().strip()
    assert "\033[" not in line
    assert "warning" in line
    assert "topup_sla_breached reference=TOP1" in line


@pytest.mark.usefixtures("reset_logging")
def test_log_format_json_forces_json_lines_on_a_terminal() -> None:
    out = configured(Terminal(), LOG_FORMAT="json")
    get_logger("test").info("request", status=201)
    assert json.loads(out.getvalue())["status"] == 201


@pytest.mark.usefixtures("reset_logging")
def test_log_format_console_into_a_file_is_readable_and_never_coloured() -> None:
    out = configured(io.StringIO(), LOG_FORMAT="console")
    get_logger("test").error("provider_down", provider="selcom")
    line = out.getvalue().strip()
    assert "error" in line
    assert "provider_down provider=selcom" in line
    assert "\033[" not in line


@pytest.mark.usefixtures("reset_logging")
def test_an_unknown_log_format_is_said_once_and_the_destination_decides() -> None:
    out = configured(io.StringIO(), LOG_FORMAT="xml")
    (record,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert record["event"] == "log_format_unknown"
    assert record["used"] == "json"


@pytest.mark.usefixtures("reset_logging")
def test_an_exception_is_one_json_record_that_carries_its_traceback() -> None:
    out = configured(io.StringIO())
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        get_logger("test").error("unhandled_exception", exc_info=exc)
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "unhandled_exception"
    assert "Traceback (most recent call last)" in record["exception"]
    assert "RuntimeError: boom" in record["exception"]


@pytest.mark.usefixtures("reset_logging")
def test_a_terminal_shows_the_traceback_under_its_event_line() -> None:
    out = configured(Terminal(), NO_COLOR="1")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        get_logger("test").error("unhandled_exception", exc_info=exc)
    lines = out.getvalue().splitlines()
    assert "unhandled_exception" in lines[0]
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"


@pytest.mark.usefixtures("reset_logging")
def test_a_uvicorn_handler_installed_earlier_does_not_print_its_records_twice() -> None:
    stray = io.StringIO()
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(stray))
    uvicorn_error.propagate = False
    out = configured(io.StringIO())
    uvicorn_error.error("Exception in ASGI application")
    assert len(out.getvalue().splitlines()) == 1
    assert stray.getvalue() == ""


@pytest.mark.usefixtures("reset_logging")
def test_console_lines_are_redacted_like_json_lines() -> None:
    out = configured(Terminal(), NO_COLOR="1")
    get_logger("test").info("account_created", bvn="12345678901", note="bvn 12345678901")
    assert "12345678901" not in out.getvalue()


def test_the_console_line_shows_the_local_time_to_the_second() -> None:
    line = render_console({"event": "x", "level": "info", "timestamp": "2025-01-15T14:30:00Z"})
    clock = datetime.fromisoformat("2025-01-15T14:30:00+00:00").astimezone().strftime("%H:%M:%S")
    assert line.startswith(clock + " info")
