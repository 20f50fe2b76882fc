"""Compile ``contracts/BetLedger.sol`` into the committed artifact (a developer tool).

    python -m dev.contract_build           # rewrite the ledger's artifacts/BetLedger.json
    python -m dev.contract_build --check   # exit 1 if the committed artifact is stale

The ledger service only reads the committed artifact; the compiler is a developer tool, so it
lives here and never ships in the image.

Compiles through py-solc-x's standard-JSON interface. A native ``solc`` on PATH is used when
present; otherwise ``contracts/solcjs-wrapper`` makes the npm solcjs look like one (it answers
``--version`` and strips the SMT notice solcjs prints before its JSON). Either way the compiler
must be exactly ``SOLC_VERSION``, and the settings are fixed, so the bytecode is reproducible.
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import solcx
from solcx.wrapper import get_solc_version

from ledger.artifact import ARTIFACT_PATH

SOLC_VERSION = "0.8.37"
SOURCE_NAME = "BetLedger.sol"
CONTRACT_NAME = "BetLedger"
# cancun: supported by Polygon PoS and anvil; nothing in the contract needs a later fork.
# runs=10000: the contract is deployed once and called forever, so favour cheap calls.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 10_000},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {SOURCE_NAME: {CONTRACT_NAME: ["abi", "evm.bytecode.object"]}},
}


def repo_root() -> Path:
    # dev/contract_build.py -> repository root
    return Path(__file__).resolve().parents[1]


def find_compiler(root: Path) -> Path:
    native = shutil.which("solc")
    return Path(native) if native else root / "contracts" / "solcjs-wrapper"


def compiler_version(solc_binary: Path) -> str:
    # Without the platform suffix (".Emscripten.clang", ".Linux.g++"): the same compiler
    # build gives the same bytecode whether it runs natively or as WebAssembly.
    version = str(get_solc_version(solc_binary, with_commit_hash=True))
    if not version.startswith(SOLC_VERSION + "+"):
        raise RuntimeError(
            f"{solc_binary} is solc {version}; BetLedger is built with {SOLC_VERSION}"
        )
    return version


def build_artifact(source: str, solc_binary: Path) -> dict[str, Any]:
    version = compiler_version(solc_binary)
    output = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {SOURCE_NAME: {"content": source}},
            "settings": SETTINGS,
        },
        solc_binary=solc_binary,
    )
    for message in output.get("errors", []):
        if message["severity"] == "warning":  # errors already raised inside compile_standard
            raise RuntimeError(
                "solc warning (fix it, do not ship it):\n" + message["formattedMessage"]
            )
    contract = output["contracts"][SOURCE_NAME][CONTRACT_NAME]
    return {
        "contractName": CONTRACT_NAME,
        "sourceName": f"contracts/{SOURCE_NAME}",
        "sourceSha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "compiler": {"version": version, "settings": SETTINGS},
        "abi": contract["abi"],
        "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
    }


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2) + "\n"


def fresh_artifact_text(root: Path) -> str:
    source = (root / "contracts" / SOURCE_NAME).read_text(encoding="utf-8")
    return render(build_artifact(source, find_compiler(root)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the artifact is stale")
    args = parser.parse_args(argv)
    fresh = fresh_artifact_text(repo_root())
    if args.check:
        current = ARTIFACT_PATH.read_text(encoding="utf-8") if ARTIFACT_PATH.exists() else ""
        if current != fresh:
            print(f"{ARTIFACT_PATH} is stale: run `make contracts`", file=sys.stderr)
            return 1
        return 0
    ARTIFACT_PATH.write_text(fresh, encoding="utf-8")
    print(f"wrote {ARTIFACT_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
