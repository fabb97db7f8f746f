"""Service keys: one hex private key per file in `DIR/keys/`, readable by the owner only.

Roles hold separate keys: admin, minter, registrar, pauser (contract roles) and relayer (pays gas
for EIP-3009 authorizations signed by custodial keys). Keys never leave this process: they sign
locally with eth-account (imported when a key is loaded). Each key's address is kept beside it
(`<role>.address`, written with the key): `service_key_address` reads it, so a status check
names the keys without importing eth-account.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from heitje.errors import ConfigError
from heitje.secretfiles import require_private, write_private

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

SERVICE_ROLES = ("admin", "minter", "registrar", "pauser", "relayer", "settler")


def write_key(path: Path, private_key_hex: str) -> None:
    """Write a hex private key to `path` with mode 0600 in a directory of mode 0700 (created
    that way, never readable by others), and its address beside it (`_address_file`)."""
    from eth_account import Account

    write_private(path, private_key_hex.removeprefix("0x") + "\n")
    address = Account.from_key(bytes.fromhex(private_key_hex.removeprefix("0x"))).address
    write_private(_address_file(path), address + "\n")


def _address_file(key_path: Path) -> Path:
    """Where the address of the key in `key_path` is kept: `<name>.address` beside it, mode
    0600 like every file of the keys folder (the key's own file is the truth)."""
    return key_path.with_suffix(".address")


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
    """The checksummed address of service role `role`'s key (as `service_key(...).address`):
    read from its address file when that is at least as new as the key file, else worked out
    with eth-account and kept there. Raises `ConfigError` as `service_key` does; `ValueError`
    for a file that holds no valid key."""
    from node.addresses import is_hex_address

    if role not in SERVICE_ROLES:
        raise ConfigError(f"unknown service role {role!r}", code="invalid_role")
    key_path = keys_dir / f"{role}.key"
    require_private(key_path)
    kept = _address_file(key_path)
    try:
        if kept.stat().st_mtime_ns >= key_path.stat().st_mtime_ns:
            text = kept.read_text().strip()
            if is_hex_address(text):
                return text
    except FileNotFoundError:
        pass
    raw = _read_key(key_path)  # a missing key is reported before eth-account is imported
    from eth_account import Account

    address: str = Account.from_key(raw).address
    with contextlib.suppress(OSError):  # a read-only keys directory: worked out next time
        write_private(kept, address + "\n")
    return address
