"""Two log lines a purchase: its outcome and its access line, which between them still say
everything ops read (topup, reference, status, Selcom's HTTP status and time, the request)."""

import httpx
import structlog
from structlog.testing import capture_logs

from betfuz_testing.wallets import MakeUser

from .conftest import buy


async def test_a_settled_purchase_logs_its_outcome_and_its_access_line_and_nothing_else(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await buy(client, user, amount=1000)
    body = response.json()
    assert [line["event"] for line in logs] == ["topup_settled", "request"]
    settled, access = logs
    assert (settled["topup_id"], settled["reference"]) == (body["transactionId"], body["reference"])
    assert (settled["status"], settled["source"]) == ("completed", "process")
    assert (access["route"], access["status"], access["selcom_http_status"]) == ("/topup", 201, 200)
    assert access["selcom_ms"] >= 0
    assert settled["request_id"] == access["request_id"]


async def test_a_purchase_left_pending_logs_a_pending_line_with_selcom_s_code(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await buy(client, user, phone="+2348030000003", amount=1000)  # answered 111
    body = response.json()
    assert body["status"] == "pending"
    assert [line["event"] for line in logs] == ["topup_pending", "request"]
    pending, access = logs
    assert (pending["topup_id"], pending["reference"]) == (body["transactionId"], body["reference"])
    assert (pending["result_code"], pending["selcom_http_status"]) == ("111", 200)
    assert access["status"] == 201
