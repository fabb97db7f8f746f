"""Service keys: one hex private key per file in `DIR/keys/`, readable by the owner only.

Roles hold separate keys: admin, minter, registrar, pauser (contract roles) and relayer (pays gas
for EIP-3009 authorizations signed by custodial keys). Keys never leave this process: they sign
locally with eth-account.
"""

from __future__ import annotations

import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from heitje.errors import ConfigError

SERVICE_ROLES = ("admin", "minter", "registrar", "pauser", "relayer", "settler")


def write_key(path: Path, private_key_hex: str) -> None:
    """Write a hex private key to `path` with mode 0600 (created that way, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private_key_hex.removeprefix("0x") + "\n")


def load_key(path: Path) -> LocalAccount:
    """Load a local signing account from a key file. Raises `ConfigError` (`missing_key`)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"key file {path} not found", code="missing_key") from None
    acct: LocalAccount = Account.from_key(bytes.fromhex(text.removeprefix("0x")))
    return acct


def service_key(keys_dir: Path, role: str) -> LocalAccount:
    """The key of service role `role` (one of SERVICE_ROLES) from `keys_dir/<role>.key`."""
    if role not in SERVICE_ROLES:
        raise ConfigError(f"unknown service role {role!r}", code="invalid_role")
    return load_key(keys_dir / f"{role}.key")
