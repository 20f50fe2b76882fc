import hashlib
import json

from dev.contract_build import SOLC_VERSION, fresh_artifact_text, repo_root
from ledger.artifact import ARTIFACT_PATH, load_artifact


def test_the_committed_artifact_matches_a_fresh_compile_of_the_source() -> None:
    # Fails when BetLedger.sol or the compiler settings changed without `make contracts`.
    assert ARTIFACT_PATH.read_text(encoding="utf-8") == fresh_artifact_text(repo_root())


def test_the_artifact_names_its_compiler_and_the_hash_of_its_source() -> None:
    artifact = load_artifact()
    source = (repo_root() / "contracts" / "BetLedger.sol").read_bytes()
    assert artifact.source_sha256 == hashlib.sha256(source).hexdigest()
    assert artifact.compiler_version.startswith(SOLC_VERSION + "+commit.")
    settings = json.loads(ARTIFACT_PATH.read_text())["compiler"]["settings"]
    assert settings["optimizer"] == {"enabled": True, "runs": 10_000}
    assert artifact.bytecode.startswith("0x60")
