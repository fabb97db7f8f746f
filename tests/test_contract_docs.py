"""NatSpec of the token: every public function, event and custom error has a user notice.

Reads forge's build artifacts (`make setup` or `tools/forge build` writes them; foundry.toml's
`extra_output` puts `userdoc` and `devdoc` in them). The notices live in
`contracts/src/IHeitjeToken.sol`; `HeitjeToken.sol` takes them with `@inheritdoc IHeitjeToken`.
Functions that come unchanged from the OpenZeppelin base contracts are exempt (`EXEMPT`): their
behaviour is the standard's, documented there, and OpenZeppelin writes `@dev`, not `@notice`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "contracts" / "out"
TOKEN = OUT / "HeitjeToken.sol" / "HeitjeToken.json"
INTERFACE = OUT / "IHeitjeToken.sol" / "IHeitjeToken.json"

_ERC20 = "ERC-20 (OpenZeppelin ERC20), documented by EIP-20"
_PERMIT = "EIP-2612 permit (OpenZeppelin ERC20Permit/Nonces), documented by EIP-2612"
_ROLES = "role checks (OpenZeppelin AccessControl); the roles are documented in HeitjeToken"
_ADMIN = "two-step admin handover (OpenZeppelin AccessControlDefaultAdminRules)"

EXEMPT: dict[str, str] = {
    "name()": _ERC20,
    "symbol()": _ERC20,
    "totalSupply()": _ERC20,
    "balanceOf(address)": _ERC20,
    "transfer(address,uint256)": _ERC20,
    "allowance(address,address)": _ERC20,
    "approve(address,uint256)": _ERC20,
    "transferFrom(address,address,uint256)": _ERC20,
    "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)": _PERMIT,
    "nonces(address)": _PERMIT,
    "DOMAIN_SEPARATOR()": _PERMIT,
    "eip712Domain()": "EIP-5267 domain description (OpenZeppelin EIP712)",
    "supportsInterface(bytes4)": "ERC-165 (OpenZeppelin AccessControl)",
    "paused()": "pause flag (OpenZeppelin Pausable); pause and unpause are documented here",
    "DEFAULT_ADMIN_ROLE()": _ROLES,
    "hasRole(bytes32,address)": _ROLES,
    "getRoleAdmin(bytes32)": _ROLES,
    "grantRole(bytes32,address)": _ROLES,
    "revokeRole(bytes32,address)": _ROLES,
    "renounceRole(bytes32,address)": _ROLES,
    "owner()": _ADMIN,
    "defaultAdmin()": _ADMIN,
    "pendingDefaultAdmin()": _ADMIN,
    "defaultAdminDelay()": _ADMIN,
    "pendingDefaultAdminDelay()": _ADMIN,
    "defaultAdminDelayIncreaseWait()": _ADMIN,
    "beginDefaultAdminTransfer(address)": _ADMIN,
    "cancelDefaultAdminTransfer()": _ADMIN,
    "acceptDefaultAdminTransfer()": _ADMIN,
    "changeDefaultAdminDelay(uint48)": _ADMIN,
    "rollbackDefaultAdminDelay()": _ADMIN,
}


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(REPO_ROOT)} is missing: run `make setup` (tools/forge build)"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _userdoc(artifact: dict[str, Any]) -> dict[str, Any]:
    """The artifact's userdoc; from the compiler metadata when forge did not write it apart."""
    doc = artifact.get("userdoc")
    if doc is None:
        doc = json.loads(artifact["rawMetadata"])["output"]["userdoc"]
    result: dict[str, Any] = doc
    return result


def _canonical_type(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _signatures(artifact: dict[str, Any], kind: str) -> list[str]:
    """`name(type,...)` of each ABI entry of `kind` (function, event, error): userdoc's keys."""
    return [
        f"{entry['name']}({','.join(_canonical_type(p) for p in entry['inputs'])})"
        for entry in artifact["abi"]
        if entry["type"] == kind
    ]


def _has_notice(entry: Any) -> bool:
    # Errors map to a list of entries (one per declaration), functions and events to one entry.
    entries = entry if isinstance(entry, list) else [entry]
    return bool(entries) and all(
        isinstance(e, dict) and str(e.get("notice", "")).strip() for e in entries
    )


def _without_notice(userdoc: dict[str, Any], section: str, signatures: list[str]) -> list[str]:
    docs: dict[str, Any] = userdoc.get(section, {})
    return [sig for sig in signatures if not _has_notice(docs.get(sig))]


def test_exemptions_are_current() -> None:
    """Every exempt function exists, and none of them is one of IHeitjeToken's own."""
    functions = set(_signatures(_load(TOKEN), "function"))
    own = set(_signatures(_load(INTERFACE), "function"))
    stale = sorted(set(EXEMPT) - functions)
    assert not stale, "exempt but not in the ABI: " + ", ".join(stale)
    ours = sorted(set(EXEMPT) & own)
    assert not ours, "exempt but declared in IHeitjeToken (needs a notice): " + ", ".join(ours)


def test_every_public_function_has_a_notice() -> None:
    token = _load(TOKEN)
    functions = [sig for sig in _signatures(token, "function") if sig not in EXEMPT]
    assert functions
    missing = _without_notice(_userdoc(token), "methods", functions)
    assert not missing, "HeitjeToken functions without a NatSpec @notice: " + ", ".join(missing)


def test_interface_functions_have_a_notice_to_inherit() -> None:
    interface = _load(INTERFACE)
    missing = _without_notice(_userdoc(interface), "methods", _signatures(interface, "function"))
    assert not missing, "IHeitjeToken functions without a NatSpec @notice: " + ", ".join(missing)


@pytest.mark.parametrize("kind", ["event", "error"])
@pytest.mark.parametrize("path", [INTERFACE, TOKEN], ids=["IHeitjeToken", "HeitjeToken"])
def test_interface_events_and_errors_have_a_notice(kind: str, path: Path) -> None:
    """Declared in IHeitjeToken; documented there and, inherited, in HeitjeToken's userdoc."""
    declared = _signatures(_load(INTERFACE), kind)
    assert declared
    missing = _without_notice(_userdoc(_load(path)), f"{kind}s", declared)
    assert not missing, f"{kind}s without a NatSpec @notice in {path.name}: " + ", ".join(missing)
