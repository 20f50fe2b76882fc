"""`make demo` stops at the first step that does not show what it should, and says so."""

from __future__ import annotations

import io
from typing import TextIO

import httpx

from dev import demo


def no_reset(out: TextIO) -> None:
    out.write("0. (wallet reset skipped in this test)\n")


def test_a_step_that_does_not_show_what_it_should_stops_the_demo_with_status_1() -> None:
    def stack(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/topup/health":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(500, json={"title": "Internal server error"})

    out = io.StringIO()
    code = demo.run("http://stack", "http://wema", out, no_reset, httpx.MockTransport(stack))
    assert code == 1
    text = out.getvalue()
    assert "1. A purchase that succeeds" in text
    assert "✗ the demo stopped: POST /topup ₦1,000.00: expected HTTP 201, got 500" in text
    assert "2. " not in text


def test_a_stack_that_is_not_running_is_said_plainly() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    out = io.StringIO()
    code = demo.run("http://stack", "http://wema", out, no_reset, httpx.MockTransport(down))
    assert code == 1
    assert "the stack did not answer" in out.getvalue()
    assert "Is `make run` running?" in out.getvalue()


def test_money_fields_read_whatever_shape_the_api_gives() -> None:
    assert demo.naira(5000) == "₦5,000.00"
    assert demo.naira("50000.50") == "₦50,000.50"
    assert demo.naira({"amount": "19000", "currency": "NGN"}) == "₦19,000.00"
