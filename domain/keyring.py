"""The key-encryption key (KEK) of custodial keys: its key id, its check value, the checks at
start, sealing and opening custodial keys under it, and its rotation.

- **Key id**: the first 8 bytes (16 hex digits) of HMAC-SHA256(KEK, "heitje kek id v1"). It
  names a KEK without revealing it; every sealed custodial key records the id it is sealed
  under (`custodial_keys.key_id`, `key_rotations.key_id`).
- **Check value**: a known block sealed with AES-256-GCM (NIST SP 800-38D) under the KEK, the
  key id as associated data, stored in `service.sqlite` at first start. A KEK that cannot open
  it is refused at start (`wrong_kek`): no service runs, and nothing is sealed, under a wrong
  KEK. A database from before check values is adopted at its first start only if the KEK opens
  every custodial key already in it.
- **Rotation** (`rotate_kek`, `heitje kek rotate`): every sealed key is re-encrypted under the new
  KEK, one key per database transaction (an interrupted rotation resumes where it stopped: rows
  say which KEK they are under), and the check value is switched last. Until then the service
  refuses to start (`kek_rotation_unfinished`); afterwards it needs the new KEK.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account.signers.local import LocalAccount

from domain.context import Context
from domain.security import new_custodial_key, open_custodial_key, seal_custodial_key
from heitje.datadir import DataDir
from heitje.errors import ConfigError, Refused
from heitje.secretfiles import require_private
from heitje.settings import Settings
from store import keyring
from store.db import connect, init_db, transaction

_KEY_ID_LABEL = b"heitje kek id v1"
_CHECK_BLOCK = b"heitje: the custodial keys of this database are sealed under this KEK (v1)"


def kek_id(kek: bytes) -> str:
    """The key id of `kek`: 16 lowercase hex digits (HMAC-SHA256 of a fixed label)."""
    return hmac.new(kek, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def _check_value(kek: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(12)
    return nonce, AESGCM(kek).encrypt(nonce, _CHECK_BLOCK, kek_id(kek).encode())


def _opens_check(kek: bytes, row: sqlite3.Row) -> bool:
    if row["key_id"] != kek_id(kek):
        return False
    try:
        block = AESGCM(kek).decrypt(
            bytes(row["nonce"]), bytes(row["check_value"]), str(row["key_id"]).encode()
        )
    except InvalidTag:
        return False
    return block == _CHECK_BLOCK


def _opens(kek: bytes, sealed: keyring.Sealed) -> LocalAccount | None:
    try:
        return open_custodial_key(kek, sealed.address, sealed.nonce, sealed.ciphertext)
    except (InvalidTag, ValueError):
        return None


def _wrong_kek(kid: str, db_path: Path, detail: str) -> ConfigError:
    return ConfigError(
        f"the key-encryption key (key id {kid}) is not the one of {db_path}: {detail}; start "
        "with the KEK this database was sealed under (after `heitje kek rotate`, the new one)",
        code="wrong_kek",
    )


def _adopt(conn: sqlite3.Connection, kek: bytes, db_path: Path) -> None:
    """First start (inside the caller's transaction): the KEK must open every custodial key
    already there; they get its key id, and the database its check value."""
    kid = kek_id(kek)
    foreign = [k for k in keyring.key_id_counts(conn) if k is not None and k != kid]
    if foreign:
        raise _wrong_kek(kid, db_path, f"its custodial keys are sealed under key id {foreign[0]}")
    unstamped = keyring.sealed_keys(conn, key_id=None)
    failed = sum(1 for s in unstamped if _opens(kek, s) is None)
    if failed:
        raise _wrong_kek(
            kid, db_path, f"it cannot open {failed} of its {len(unstamped)} custodial keys"
        )
    keyring.stamp(conn, kid)
    keyring.set_check(conn, kid, *_check_value(kek))


def verify_kek(conn: sqlite3.Connection, kek: bytes, db_path: Path) -> str:
    """Check `kek` against the database on `conn` (adopting it at first start); returns its key
    id. Raises `ConfigError`: `wrong_kek` (it cannot open the check value, or at first start a
    custodial key), `kek_rotation_unfinished` (keys are still sealed under another KEK)."""
    kid = kek_id(kek)
    with transaction(conn):
        row = keyring.check(conn)
        if row is None:
            _adopt(conn, kek, db_path)
            return kid
        if not _opens_check(kek, row):
            raise _wrong_kek(
                kid, db_path, f"it cannot open the check value of key id {row['key_id']}"
            )
        counts = keyring.key_id_counts(conn)
        if None in counts:  # sealed by code from before key ids: stamp if this KEK opens them
            _adopt(conn, kek, db_path)
            counts = keyring.key_id_counts(conn)
        others = {k: n for k, n in counts.items() if k != kid}
        if others:
            raise ConfigError(
                f"a key-encryption key rotation is unfinished: {sum(others.values())} of the "
                f"{sum(counts.values())} custodial keys of {db_path} are sealed under another KEK "
                f"(key id {sorted(map(str, others))[0]}); finish it by running `heitje kek rotate "
                "--new-kek-file NEW` again with the same new KEK",
                code="kek_rotation_unfinished",
            )
    return kid


def check_at_start(settings: Settings) -> str:
    """What the service checks before it serves: every file in the keys directory and the dev
    chain's `chain.json` is readable by the owner only; the KEK opens the database's check value
    (stored at first start) and every custodial key is sealed under it. Creates or migrates
    `service.sqlite`. Returns the KEK's key id.

    Raises `ConfigError`: `key_file_exposed` (naming the file and `chmod 600`), `missing_kek`,
    `bad_kek`, `unsafe_kek`, `wrong_kek`, `kek_rotation_unfinished`.
    """
    paths = settings.paths
    if paths.keys.is_dir():
        for path in sorted(paths.keys.iterdir()):
            if path.is_file():
                require_private(path)
    require_private(paths.chain / "chain.json")
    kek = settings.key_encryption_key()
    init_db(settings.service_db)
    conn = connect(settings.service_db)
    try:
        return verify_kek(conn, kek, settings.service_db)
    finally:
        conn.close()


# ----- sealing and opening in a running service -----


def seal_new_key(ctx: Context) -> tuple[str, bytes, bytes, str]:
    """A new custodial key sealed under the service's KEK: (address, nonce, ciphertext, key id).
    Call inside the transaction that stores it: the database's KEK is read in it, so a key is
    never sealed under a KEK the database no longer belongs to.

    Raises `Refused` 503 `kek_changed` when the database's KEK was rotated since the service
    started (restart it with the new KEK); `ConfigError` (`wrong_kek`) at a first use that
    finds keys the KEK cannot open."""
    kek = ctx.settings.key_encryption_key()
    kid = kek_id(kek)
    row = keyring.check(ctx.db)
    if row is None:
        _adopt(ctx.db, kek, ctx.settings.service_db)
    elif row["key_id"] != kid:
        raise Refused(
            503,
            "kek_changed",
            "the key-encryption key was rotated: the service must be restarted with the new one",
        )
    address, nonce, ct = new_custodial_key(kek)
    return address, nonce, ct, kid


def open_sealed(
    ctx: Context, address: str, nonce: bytes, ciphertext: bytes, key_id: str | None
) -> LocalAccount:
    """Open a custodial key sealed under `key_id` with the service's KEK (in memory only).

    Raises `Refused` 503: `kek_changed` (the key is sealed under another KEK: a rotation is
    under way or finished; restart with the new KEK), `custodial_key_unreadable` (the sealed
    key was altered or does not match its address)."""
    kek = ctx.settings.key_encryption_key()
    if key_id is not None and key_id != kek_id(kek):
        raise Refused(
            503,
            "kek_changed",
            "this wallet's key is sealed under another key-encryption key: the service must be "
            "restarted with the KEK of its database",
        )
    try:
        return open_custodial_key(kek, address, nonce, ciphertext)
    except (InvalidTag, ValueError):
        raise Refused(
            503,
            "custodial_key_unreadable",
            "this wallet's key cannot be opened: its stored copy was altered",
        ) from None


# ----- rotation -----


@dataclass(frozen=True)
class Rotation:
    """What `rotate_kek` did: the key ids, keys re-encrypted by this run, keys found already
    under the new KEK (by an interrupted run), and whether the switch had happened before."""

    old_key_id: str
    new_key_id: str
    resealed: int
    already_resealed: int
    already_switched: bool


def _hold_dispatcher_lock(paths: DataDir) -> IO[str]:
    """Take the service's dispatcher lock so that no service runs during the rotation."""
    f = open(paths.dispatcher_lock, "w")  # noqa: SIM115 (held for the rotation)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise ConfigError(
            f"the service is running on {paths.root} ({paths.dispatcher_lock} is held): stop "
            "it before rotating the key-encryption key",
            code="service_running",
        ) from None
    return f


def rotate_kek(
    data_dir: Path,
    old_kek: bytes,
    new_kek: bytes,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> Rotation:
    """Re-encrypt every custodial key of `data_dir`'s database from `old_kek` (the service's
    current KEK) to `new_kek`, then switch the check value to `new_kek`.

    Each key is re-encrypted in its own transaction, so an interrupted run loses nothing and a
    new run with the same two KEKs finishes the job; a run after the switch changes nothing.
    `on_progress(n)` is called after each key with the number under the new KEK so far. Holds
    the dispatcher lock: the service must be stopped.

    Raises `ConfigError`: `same_kek`, `no_database`, `service_running`, `wrong_kek` (`old_kek`
    cannot open the check value, and the switch has not happened), `custodial_key_unreadable`
    (a key the old KEK cannot open: it was altered; nothing after it is touched).
    """
    old_id, new_id = kek_id(old_kek), kek_id(new_kek)
    if old_id == new_id:
        raise ConfigError("the new key-encryption key is the current one", code="same_kek")
    paths = DataDir(data_dir)
    db_path = paths.service_db
    if not db_path.is_file():
        raise ConfigError(f"{db_path} not found: nothing to rotate", code="no_database")
    lock = _hold_dispatcher_lock(paths)
    try:
        init_db(db_path)
        conn = connect(db_path)
        try:
            return _rotate(conn, db_path, old_kek, new_kek, on_progress)
        finally:
            conn.close()
    finally:
        lock.close()


def _rotate(
    conn: sqlite3.Connection,
    db_path: Path,
    old_kek: bytes,
    new_kek: bytes,
    on_progress: Callable[[int], None] | None,
) -> Rotation:
    old_id, new_id = kek_id(old_kek), kek_id(new_kek)
    with transaction(conn):
        row = keyring.check(conn)
        if row is not None and _opens_check(new_kek, row):
            left = sum(n for k, n in keyring.key_id_counts(conn).items() if k != new_id)
            if left == 0:
                return Rotation(old_id, new_id, 0, 0, already_switched=True)
        if row is None:
            _adopt(conn, old_kek, db_path)
        elif not _opens_check(old_kek, row):
            raise _wrong_kek(
                old_id, db_path, f"it cannot open the check value of key id {row['key_id']}"
            )
        counts = keyring.key_id_counts(conn)
        if None in counts:
            _adopt(conn, old_kek, db_path)
            counts = keyring.key_id_counts(conn)
        unknown = [k for k in counts if k not in (old_id, new_id)]
        if unknown:
            raise _wrong_kek(old_id, db_path, f"some custodial keys are under key id {unknown[0]}")
    already = counts.get(new_id, 0)
    done = 0
    while True:
        batch = keyring.sealed_keys(conn, key_id=old_id, limit=100)
        if not batch:
            from domain.second_factor import reseal_all  # (it imports this module)

            reseal_all(conn, old_kek, new_kek)  # staff TOTP secrets, before the switch
            with transaction(conn):  # the switch: only when no key is left under the old KEK
                if any(k != new_id for k in keyring.key_id_counts(conn)):
                    continue
                keyring.set_check(conn, new_id, *_check_value(new_kek))
            return Rotation(old_id, new_id, done, already, already_switched=False)
        for sealed in batch:
            account = _opens(old_kek, sealed)
            if account is None:
                raise ConfigError(
                    f"the custodial key in {sealed.table} of account {sealed.user_id} does not "
                    f"open with the KEK of key id {old_id}: it was altered; nothing after it "
                    "was re-encrypted",
                    code="custodial_key_unreadable",
                )
            nonce, ct = seal_custodial_key(new_kek, bytes(account.key), sealed.address)
            with transaction(conn):
                if keyring.reseal(conn, sealed, nonce, ct, new_id):
                    done += 1
            if on_progress is not None:
                on_progress(done + already)
