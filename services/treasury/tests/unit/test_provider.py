import json

import httpx
import pytest

from betfuz_common.signatures import verify
from treasury.provider import (
    AccountRequest,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    WemaClient,
)

BVN = "22222222222"
REQUEST = AccountRequest(
    reference="BFZ-REF-1",
    bvn=BVN,
    first_name="John",
    last_name="Doe",
    phone_number="+2348012345678",
    email="john@example.com",
)
OPENED = {
    "status": "success",
    "data": {
        "accountNumber": "1234567899",
        "accountName": "JOHN DOE",
        "bankCode": "035",
        "bankName": "Wema Bank",
        "reference": "BFZ-REF-1",
    },
}


def client(handler: httpx.MockTransport) -> WemaClient:
    http = httpx.AsyncClient(transport=handler, base_url="http://wema.test")
    return WemaClient(http, api_key="key-1", signing_secret=b"secret-1")


async def test_a_creation_sends_our_reference_key_and_signature_and_reads_the_account() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=OPENED)

    account = await client(httpx.MockTransport(handler)).create_virtual_account(REQUEST)
    assert account.account_number == "1234567899"
    assert account.reference == "BFZ-REF-1"
    (sent,) = seen
    assert sent.url.path == "/v1/virtual-accounts"
    assert sent.headers["x-api-key"] == "key-1"
    assert verify(sent.content, sent.headers["x-wema-signature"], [b"secret-1"], "sha512")
    assert json.loads(sent.content)["reference"] == "BFZ-REF-1"


async def test_a_timeout_is_a_provider_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderTimeout):
        await client(httpx.MockTransport(handler)).create_virtual_account(REQUEST)


@pytest.mark.parametrize("status", [500, 502, 503, 401, 404])
async def test_server_errors_and_our_own_auth_errors_are_unavailable(status: int) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json={"status": "failed"}))
    with pytest.raises(ProviderUnavailable):
        await client(transport).create_virtual_account(REQUEST)


@pytest.mark.parametrize("status", [400, 422])
async def test_a_refusal_of_the_details_is_a_rejection(status: int) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json={"status": "failed"}))
    with pytest.raises(ProviderRejected):
        await client(transport).create_virtual_account(REQUEST)


async def test_a_connection_failure_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderUnavailable):
        await client(httpx.MockTransport(handler)).create_virtual_account(REQUEST)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        json.dumps({"data": {**OPENED["data"], "reference": "SOMEONE-ELSE"}}).encode(),  # type: ignore[dict-item]
        json.dumps({"data": {**OPENED["data"], "accountNumber": 1234567899}}).encode(),  # type: ignore[dict-item]
    ],
)
async def test_an_answer_of_the_wrong_shape_or_for_another_reference_is_unavailable(
    body: bytes,
) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))
    with pytest.raises(ProviderUnavailable):
        await client(transport).create_virtual_account(REQUEST)


def test_the_request_repr_hides_the_bvn_and_contact_details() -> None:
    text = repr(REQUEST)
    assert BVN not in text
    assert "john@example.com" not in text
