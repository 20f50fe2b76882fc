"""`make token` and `make deposit` refuse bad input with a message and exit 2, never a trace."""

from __future__ import annotations

import httpx
import jwt
import pytest

from betfuz_common.settings import CommonSettings
from dev import deposit, token


def test_a_token_without_a_user_is_refused_with_the_demo_users_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert token.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "make token needs USER=<user id>, e.g. USER=demo-ada" in captured.err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["a b"], "a user id is 1-128 visible characters"),
        (["x" * 129], "a user id is 1-128 visible characters"),
        (["demo-ada", "--role", "boss"], "the roles endpoints check are compliance, admin, ops"),
    ],
)
def test_a_bad_user_id_or_role_is_refused(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert token.main(argv) == 2
    assert said in capsys.readouterr().err


def test_a_token_names_its_user_and_role_and_is_alone_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert token.main(["demo-auditor", "--role", "compliance"]) == 0
    out = capsys.readouterr().out.strip()
    claims = jwt.decode(out, CommonSettings.DEV_DEFAULTS["JWT_SECRET"], algorithms=["HS256"])
    assert claims["sub"] == "demo-auditor"
    assert claims["roles"] == ["compliance"]


def test_a_user_without_a_wallet_gets_a_token_and_a_note_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def no_wallet(url: str, user_id: str) -> bool:
        return False

    monkeypatch.setattr(token, "has_wallet", no_wallet)
    assert token.main(["nobody"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count(".") == 2  # a JWT and nothing else
    assert "'nobody' has no wallet in the dev database" in captured.err
    assert "demo-ada" in captured.err


def test_tokens_are_never_minted_for_production(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    assert token.main(["demo-ada"]) == 2
    assert "APP_ENV=prod" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "needs ACCOUNT=<10 digits> or USER=<user id>"),
        (["--account=0123456789"], "needs AMOUNT=<naira>"),
        (["--account=0123456789", "--user=demo-ada", "--amount=5"], "(one of them)"),
        (["--account=123", "--amount=5"], "account '123' is not a 10-digit account number"),
        (["--account=0123456789", "--amount=abc"], "amount 'abc' is not a positive naira"),
        (["--account=0123456789", "--amount=-5"], "amount '-5' is not a positive naira"),
        (["--account=0123456789", "--amount=1.234"], "at most 2 decimals"),
        (["--account=0123456789", "--amount=5", "--duplicates=0"], "DUPLICATES:"),
        (["--account=0123456789", "--amount=5", "--notify=no"], "NOTIFY must be 0"),
    ],
)
def test_bad_deposit_input_is_refused_before_anything_is_sent(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deposit.main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "usage: make deposit" in err


def client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(base_url="http://stack", transport=handler)


def test_a_users_account_number_is_read_through_the_stack() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/treasury/accounts/me"
        assert request.headers["authorization"].startswith("Bearer ")
        return httpx.Response(200, json={"accountNumber": "0123456789"})

    with client(httpx.MockTransport(answer)) as api:
        assert deposit.account_of(api, "demo-ada") == "0123456789"


def test_a_user_without_an_account_is_told_to_open_one_first() -> None:
    missing = httpx.MockTransport(lambda _: httpx.Response(404, json={}))
    with (
        client(missing) as api,
        pytest.raises(deposit.LookupFailed, match="has no bank account yet: open one first"),
    ):
        deposit.account_of(api, "demo-ada")


def test_a_stack_that_does_not_answer_is_named_with_how_to_start_it() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with (
        client(httpx.MockTransport(refuse)) as api,
        pytest.raises(deposit.LookupFailed, match="start it with `make run`"),
    ):
        deposit.account_of(api, "demo-ada")
