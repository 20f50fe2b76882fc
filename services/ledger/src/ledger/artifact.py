"""The compiled BetLedger contract, as committed in ``artifacts/BetLedger.json``.

Runtime code reads the artifact and never compiles: the compiler is a developer tool
(see ``dev.contract_build``), and the deployed bytecode must be the reviewed one.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACT_PATH = Path(__file__).parent / "artifacts" / "BetLedger.json"


@dataclass(frozen=True)
class ContractArtifact:
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code
    compiler_version: str
    source_sha256: str


def load_artifact(path: Path = ARTIFACT_PATH) -> ContractArtifact:
    data = json.loads(path.read_text(encoding="utf-8"))
    return ContractArtifact(
        abi=data["abi"],
        bytecode=data["bytecode"],
        compiler_version=data["compiler"]["version"],
        source_sha256=data["sourceSha256"],
    )
