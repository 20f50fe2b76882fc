import tomllib
from pathlib import Path

from treasury.config import TreasurySettings

REPO = Path(__file__).resolve().parents[4]


def test_the_dev_sandbox_uses_the_secrets_the_service_defaults_to() -> None:
    config = tomllib.loads((REPO / "dev/processes.d/30-wema.toml").read_text())
    (wema,) = config["process"]
    for name in ("WEMA_API_KEY", "WEMA_SECRET_KEY"):
        assert wema["env"][name] == TreasurySettings.DEV_DEFAULTS[name]
    assert TreasurySettings.DEV_DEFAULTS["WEMA_BASE_URL"].endswith(":" + wema["env"]["PORT"])
