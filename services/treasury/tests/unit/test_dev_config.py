import tomllib
from pathlib import Path

from betfuz_common.settings import load_settings, secret_list
from sandboxes.wema.server import SandboxConfig
from treasury.config import TreasurySettings

REPO = Path(__file__).resolve().parents[4]
WEMA_VARIABLES = ("WEMA_API_KEY", "WEMA_SECRET_KEY", "API_BASE_URL")


def wema_process() -> dict[str, object]:
    (wema,) = tomllib.loads((REPO / "dev/processes.d/30-wema.toml").read_text())["process"]
    assert isinstance(wema, dict)
    return wema


def test_the_dev_stack_pins_none_of_the_variables_the_sandbox_shares_with_the_service() -> None:
    # A pinned value would override what the developer exported for both (`make run` merges a
    # process's own env over the shell's): the service would sign with one secret, the
    # sandbox check with another, and every account creation would be a 401.
    pinned = wema_process().get("env", {})
    assert isinstance(pinned, dict)
    assert set(pinned) == {"PORT"}
    assert TreasurySettings.DEV_DEFAULTS["WEMA_BASE_URL"].endswith(":" + pinned["PORT"])


def test_the_sandbox_reads_the_wema_variables_exactly_as_the_service_does() -> None:
    custom = {
        "WEMA_API_KEY": "a-custom-wema-key",
        "WEMA_SECRET_KEY": "a-custom-secret, the-next-one",
        "API_BASE_URL": "http://127.0.0.1:18000/",
    }
    for env in ({}, custom):
        sandbox = SandboxConfig.from_env(env)
        service = load_settings(TreasurySettings, env)
        assert sandbox.api_key == service.wema_api_key.get_secret_value()
        assert sandbox.secrets == secret_list(service.wema_secret_key)
        assert sandbox.webhook_url == service.api_base_url.rstrip("/") + "/treasury/webhook"
    assert SandboxConfig.from_env({}).api_key == TreasurySettings.DEV_DEFAULTS["WEMA_API_KEY"]
    assert SandboxConfig.from_env(custom).secrets == [b"a-custom-secret", b"the-next-one"]
