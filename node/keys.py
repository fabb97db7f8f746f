"""Service keys: one hex private key per file in `DIR/keys/`, readable by the owner only.

Roles hold separate keys: admin, minter, registrar, pauser (contract roles) and relayer (pays gas
for EIP-3009 authorizations signed by custodial keys). Keys never leave this process: they sign
locally with eth-account (imported when a key is loaded: `service_key_address` names a key
without it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from heitje.errors import ConfigError
from heitje.secretfiles import require_private, write_private

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

SERVICE_ROLES = ("admin", "minter", "registrar", "pauser", "relayer", "settler")


def write_key(path: Path, private_key_hex: str) -> None:
    """Write a hex private key to `path` with mode 0600 in a directory of mode 0700 (created
    that way, never readable by others)."""
    write_private(path, private_key_hex.removeprefix("0x") + "\n")


def _read_key(path: Path) -> bytes:
    """The private key in a key file (`load_key`'s errors; `ValueError` when it is not hex)."""
    require_private(path)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"key file {path} not found", code="missing_key") from None
    return bytes.fromhex(text.removeprefix("0x"))


def load_key(path: Path) -> LocalAccount:
    """Load a local signing account from a key file. Raises `ConfigError`: `missing_key`, or
    `key_file_exposed` when group or others may read the file (one line naming `chmod 600`)."""
    from eth_account import Account

    acct: LocalAccount = Account.from_key(_read_key(path))
    return acct


def service_key(keys_dir: Path, role: str) -> LocalAccount:
    """The key of service role `role` (one of SERVICE_ROLES) from `keys_dir/<role>.key`."""
    if role not in SERVICE_ROLES:
        raise ConfigError(f"unknown service role {role!r}", code="invalid_role")
    return load_key(keys_dir / f"{role}.key")


def service_key_address(keys_dir: Path, role: str) -> str:
    """The checksummed address of service role `role`'s key (as `service_key(...).address`),
    derived without eth-account. Raises `ConfigError` as `service_key` does; `ValueError` for a
    file that holds no valid key."""
    from node.addresses import address_of_key

    if role not in SERVICE_ROLES:
        raise ConfigError(f"unknown service role {role!r}", code="invalid_role")
    return address_of_key(_read_key(keys_dir / f"{role}.key"))
