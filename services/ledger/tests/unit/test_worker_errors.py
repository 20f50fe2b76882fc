from __future__ import annotations

from ledger.worker import describe_error, url_secrets


def test_an_rpc_api_key_in_the_url_never_reaches_the_stored_error() -> None:
    url = "https://polygon-amoy.example.net/v2/sk_live_abc123?apikey=zzz999"
    error = ConnectionError(f"cannot reach {url} (path /v2/sk_live_abc123)")

    text = describe_error(error, hide=url_secrets(url))

    assert "sk_live_abc123" not in text
    assert "zzz999" not in text
    assert text.startswith("ConnectionError: cannot reach <redacted>")


def test_a_long_error_is_cut_to_a_storable_length() -> None:
    assert len(describe_error(RuntimeError("x" * 5000))) == 500
