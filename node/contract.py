"""The HEIT token binding: ABI and bytecode from forge's build artifact, custom-error decoding.

The artifact is `contracts/out/HeitjeToken.sol/HeitjeToken.json`, written by `forge build`
(`make setup` runs it). Reverts are decoded from their 4-byte selector into stable codes
(`ERC20InsufficientBalance` -> `insufficient_balance`), so callers never parse messages.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from web3 import Web3

from heitje.errors import ChainError, HeitjeError
from heitje.money import format_heit

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = REPO_ROOT / "contracts" / "out" / "HeitjeToken.sol" / "HeitjeToken.json"


class AccountKind(IntEnum):
    """`IHeitjeToken.AccountKind`: None = not registered."""

    NONE = 0
    CITIZEN = 1
    SHOP = 2


class ArtifactMissing(HeitjeError, FileNotFoundError):
    """The forge build artifact is missing: run `make setup`."""

    code = "artifact_missing"


@dataclass(frozen=True)
class Artifact:
    """ABI, creation bytecode and deployed bytecode of HeitjeToken, plus the artifact's sha256."""

    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    sha256: str
    compiler: str
    evm_version: str
    build_settings: dict[str, Any]
    """Compiler settings from the metadata: compiler, evmVersion, optimizer, remappings,
    bytecodeHash, libraries (what `heitje verify` needs to rebuild the same code)."""


@cache
def load_artifact(path: Path = ARTIFACT) -> Artifact:
    """Read forge's artifact for HeitjeToken. Raises `ArtifactMissing` when not built."""
    if not path.exists():
        raise ArtifactMissing(f"{path} not found: run `make setup` (forge build)")
    raw = path.read_bytes()
    data = json.loads(raw)
    meta = data.get("metadata", {})
    settings = meta.get("settings", {})
    build = {
        "compiler": str(meta.get("compiler", {}).get("version", "")),
        "evmVersion": settings.get("evmVersion", ""),
        "optimizer": settings.get("optimizer", {}),
        "remappings": settings.get("remappings", []),
        "metadata": settings.get("metadata", {}),
        "libraries": settings.get("libraries", {}),
        "viaIR": bool(settings.get("viaIR", False)),
        "source": "contracts/src/HeitjeToken.sol",
        "contract": "HeitjeToken",
    }
    return Artifact(
        abi=data["abi"],
        bytecode=data["bytecode"]["object"],
        deployed_bytecode=data["deployedBytecode"]["object"],
        sha256=hashlib.sha256(raw).hexdigest(),
        compiler=str(meta.get("compiler", {}).get("version", "")),
        evm_version=str(settings.get("evmVersion", "")),
        build_settings=build,
    )


_CODES = {
    "ERC20InsufficientBalance": "insufficient_balance",
    "EnforcedPause": "paused",
    "AccessControlUnauthorizedAccount": "missing_role",
    "HeitjeTaskAlreadyRewarded": "task_already_rewarded",
    "HeitjeNotCitizen": "not_a_citizen",
    "HeitjeNotShop": "not_a_shop",
    "HeitjeZeroAmount": "invalid_amount",
}


def _snake(name: str) -> str:
    name = re.sub(r"^(Heitje|ERC20)", "", name)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def _errors_by_selector() -> dict[bytes, tuple[str, list[str]]]:
    out: dict[bytes, tuple[str, list[str]]] = {}
    for item in load_artifact().abi:
        if item.get("type") != "error":
            continue
        types = [i["type"] for i in item["inputs"]]
        sig = f"{item['name']}({','.join(types)})"
        out[Web3.keccak(text=sig)[:4]] = (item["name"], types)
    return out


def decode_revert(data: str | bytes | None) -> ChainError:
    """Turn revert data (hex or bytes) into a `ChainError` whose `code` names the reason.

    Custom errors of the ABI map to stable codes (`insufficient_balance`,
    `task_already_rewarded`, `transfer_not_allowed`, ...); anything else is `chain_reverted`.
    """
    if isinstance(data, str):
        hexdata = data[2:] if data.startswith("0x") else data
        try:
            raw = bytes.fromhex(hexdata)
        except ValueError:
            raw = b""
    else:
        raw = data or b""
    found = _errors_by_selector().get(raw[:4]) if len(raw) >= 4 else None
    if found is None:
        return ChainError(
            f"the chain refused the transaction ({raw[:4].hex() or 'no data'})",
            code="chain_reverted",
        )
    name, types = found
    try:
        args = abi_decode(types, raw[4:])
    except Exception:  # malformed data: name is still known
        args = ()
    shown = ", ".join(str(a.hex() if isinstance(a, bytes) else a) for a in args)
    message = f"{name}({shown})"
    if name == "ERC20InsufficientBalance" and len(args) == 3:
        message = (
            f"the balance of {args[0]} is {format_heit(int(args[1]))} HEIT, "
            f"less than {format_heit(int(args[2]))} HEIT"
        )
    elif name == "EnforcedPause":
        message = "the token is paused: no transfers, mints or redemptions for now"
    return ChainError(message, code=_CODES.get(name, _snake(name)))


def task_ref(task_key: str) -> bytes:
    """The opaque on-chain reference of a task: keccak-256 of `heitje-task:<task_key>`.

    `task_key` is the service's own stable identifier; no description goes on chain.
    """
    return bytes(Web3.keccak(text=f"heitje-task:{task_key}"))
