"""The staff second factor (issue 11; the BIO asks it of staff with privileged access): after
their password, staff (`domain.sessions.STAFF_ROLES`, while `staff_second_factor` is on) give
a TOTP code (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) from an authenticator app, or
one of 10 one-time recovery codes.

- **Setting up** (`begin_enrolment`, `finish_enrolment`): a random 160-bit secret, sealed with
  AES-256-GCM under the key-encryption key as custodial keys are (the account id as associated
  data, the KEK's id recorded), shown once as an `otpauth://` QR code and as text; the first
  right code confirms it and gives the 10 recovery codes, shown once and stored as argon2id
  hashes (pwdlib). Recorded in the staff log (`staff.second_factor_enrol`).
- **Codes**: the code of the current 30-second step, or the step before or after (clocks
  drift); a step whose code was taken once is never taken again for that account, nor any
  earlier one (`second_factors.last_step`). A recovery code works once. Wrong codes are
  throttled as wrong passwords are (`domain.sessions.count_attempt`, settings `login_*`).
- **Resetting** (`reset_second_factor`, an admin or `heitje staff reset-second-factor`): the
  secret and recovery codes are deleted and every session of the account ends; the next log-in
  sets up a new one. Recorded in the staff log (`staff.second_factor_reset`).

A KEK rotation (`heitje kek rotate`) re-seals the TOTP secrets with the custodial keys
(`reseal_all`). A secret that does not open (altered) answers 503 `second_factor_unreadable`;
its recovery codes still work, and an admin resets it.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from domain import sessions, staff_log
from domain.context import Caller, Context
from domain.keyring import kek_id
from heitje.errors import Refused
from store import accounts, keyring
from store import second_factor as store
from store import sessions as session_store
from store.db import now_iso, transaction

log = logging.getLogger("heitje.second_factor")

STEP = 30
"""Seconds of one TOTP step (RFC 6238 section 4: X = 30)."""
DIGITS = 6
RECOVERY_CODES = 10
"""Recovery codes given at set-up."""
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""Characters of a recovery code: no 0/O, 1/I/L (read aloud or typed from paper)."""
RECOVERY_LENGTH = 10
"""Characters of a recovery code (about 50 bits), shown as two groups of five."""
MAX_REASON = 500

_TOTP_CODE = re.compile(r"[0-9]{6}")
# Recovery codes are random (about 50 bits), not chosen by people: argon2id with lighter
# parameters than passwords' keeps checking all ten of an account at about 0.1 s.
_recovery_hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),))


@dataclass(frozen=True)
class Setup:
    """A secret being set up: `secret` (base32, 32 characters), `uri` (`otpauth://totp/...`
    for the QR code, issuer the municipality's name, account the username)."""

    secret: str
    uri: str

    @property
    def groups(self) -> list[str]:
        """The secret in groups of four characters, for typing it in."""
        return [self.secret[i : i + 4] for i in range(0, len(self.secret), 4)]


# ----- pure rules -----


def code_step(secret: str, code: str, at: float, after: int = -1) -> int | None:
    """The 30-second step whose TOTP code (`secret` base32) is `code`, among the step of `at`
    (Unix seconds) and the one before and after it; only steps later than `after` (the last
    step taken) count. None when no step matches."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    now = int(at // STEP)
    for step in (now - 1, now, now + 1):
        if step > after and hmac.compare_digest(totp.at(step * STEP).encode(), code.encode()):
            return step
    return None


def normalise(code: str) -> str:
    """A typed code without spaces and dashes, upper case ("12 34 56" -> "123456",
    "abcde-fghjk" -> "ABCDEFGHJK")."""
    return "".join(code.split()).replace("-", "").upper()[:64]


def new_recovery_codes() -> list[str]:
    """`RECOVERY_CODES` random recovery codes, as shown: "ABCDE-FGHJK"."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


# ----- the sealed secret -----


def _aad(user_id: int) -> bytes:
    return f"heitje second factor v1:{user_id}".encode()


def _seal(ctx: Context, user_id: int, secret: str) -> tuple[bytes, bytes, str]:
    """(nonce, ciphertext, key id) of `secret` under the service's KEK. 503 `kek_changed` when
    the database's KEK is another (rotated since this service started)."""
    kek = ctx.settings.key_encryption_key()
    kid = kek_id(kek)
    check = keyring.check(ctx.db)
    if check is not None and check["key_id"] != kid:
        raise Refused(
            503,
            "kek_changed",
            "the key-encryption key was rotated: the service must be restarted with the new one",
        )
    nonce = os.urandom(12)
    return nonce, AESGCM(kek).encrypt(nonce, secret.encode(), _aad(user_id)), kid


def _open(ctx: Context, user_id: int, row: sqlite3.Row) -> str:
    """The secret of an enrolment row. 503 `second_factor_unreadable` when it is sealed under
    another KEK or was altered."""
    kek = ctx.settings.key_encryption_key()
    message = (
        "this second factor cannot be opened (sealed under another key-encryption key, or "
        "altered): use a recovery code, or ask an administrator to reset it"
    )
    if row["key_id"] != kek_id(kek):
        raise Refused(503, "second_factor_unreadable", message)
    try:
        raw = AESGCM(kek).decrypt(bytes(row["nonce"]), bytes(row["ciphertext"]), _aad(user_id))
    except InvalidTag:
        raise Refused(503, "second_factor_unreadable", message) from None
    return raw.decode()


def reseal_all(conn: sqlite3.Connection, old_kek: bytes, new_kek: bytes) -> int:
    """Seal every TOTP secret under `old_kek` anew under `new_kek` (a KEK rotation, run by
    `domain.keyring`); returns how many. A secret that does not open (altered) is left as it is:
    its owner uses a recovery code, or an admin resets it."""
    old_id, new_id = kek_id(old_kek), kek_id(new_kek)
    done = 0
    for row in store.sealed_under(conn, old_id):
        user_id = int(row["user_id"])
        try:
            raw = AESGCM(old_kek).decrypt(
                bytes(row["nonce"]), bytes(row["ciphertext"]), _aad(user_id)
            )
        except InvalidTag:
            log.warning("second factor of account %s does not open: left as it is", user_id)
            continue
        nonce = os.urandom(12)
        sealed = AESGCM(new_kek).encrypt(nonce, raw, _aad(user_id))
        with transaction(conn):
            done += store.reseal(conn, user_id, old_id, nonce, sealed, new_id)
    return done


def _setup(ctx: Context, caller: Caller, secret: str) -> Setup:
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=caller.username, issuer_name=ctx.settings.municipality_name
    )
    return Setup(secret, uri)


def _throttle_key(caller: Caller) -> str:
    return f"second_factor:{caller.id}"


# ----- the account's own second factor -----


def state(ctx: Context, caller: Caller) -> str:
    """`enrolled` (a confirmed secret), `started` (set up, first code not given yet) or
    `none`."""
    row = store.enrolment(ctx.db, caller.id)
    if row is None:
        return "none"
    return "enrolled" if row["confirmed_at"] is not None else "started"


def begin_enrolment(ctx: Context, caller: Caller) -> Setup:
    """The secret `caller` is setting up: the unconfirmed one already stored (a reload shows
    the same QR code), else a new one, sealed and stored.

    Errors: 409 `second_factor_enrolled` (set up already); 503 `kek_changed`,
    `second_factor_unreadable`."""
    with transaction(ctx.db):
        row = store.enrolment(ctx.db, caller.id)
        if row is not None and row["confirmed_at"] is not None:
            raise Refused(409, "second_factor_enrolled", "the second factor is set up already")
        if row is not None:
            return _setup(ctx, caller, _open(ctx, caller.id, row))
        secret = pyotp.random_base32()
        nonce, ciphertext, kid = _seal(ctx, caller.id, secret)
        store.start_enrolment(ctx.db, caller.id, nonce, ciphertext, kid, now_iso())
    return _setup(ctx, caller, secret)


def finish_enrolment(ctx: Context, caller: Caller, token: str | None, code: str) -> list[str]:
    """Confirm the secret `caller` is setting up with its first `code` (6 digits; that step
    is taken), and complete the session `token` (when given and waiting for its second
    factor). Returns the 10 recovery codes ("ABCDE-FGHJK"), which exist nowhere else (only
    their hashes are stored): show them once. Recorded in the staff log
    (`staff.second_factor_enrol`). Wrong codes are throttled as log-ins.

    Errors: 401 `invalid_second_factor` (wrong code; nothing changed); 409
    `second_factor_enrolled`, `second_factor_not_started` (no secret being set up:
    `begin_enrolment`); 429 `login_throttled` (`Throttled`); 503 `second_factor_unreadable`."""
    row = store.enrolment(ctx.db, caller.id)
    if row is None:
        raise Refused(409, "second_factor_not_started", "set up the second factor first")
    if row["confirmed_at"] is not None:
        raise Refused(409, "second_factor_enrolled", "the second factor is set up already")
    secret = _open(ctx, caller.id, row)
    counted = sessions.count_attempt(ctx, _throttle_key(caller))
    step = code_step(secret, normalise(code), time.time(), int(row["last_step"]))
    if step is None:
        sessions.attempt_failed(ctx, counted)
        raise Refused(401, "invalid_second_factor", "that code is not right: try the next one")
    codes = new_recovery_codes()
    hashes = [_recovery_hasher.hash(normalise(c)) for c in codes]
    with transaction(ctx.db):
        if not store.confirm(ctx.db, caller.id, step, now_iso()):
            raise Refused(409, "second_factor_enrolled", "the second factor is set up already")
        store.set_recovery_codes(ctx.db, caller.id, hashes)
        staff_log.record(
            ctx, caller, "staff.second_factor_enrol", caller.username, recovery_codes=len(codes)
        )
        if token:
            sessions.complete_session(ctx, token)
        sessions.attempt_succeeded(ctx.db, counted)
    return codes


def _not_enrolled() -> Refused:
    return Refused(
        403,
        "second_factor_not_enrolled",
        "this staff account has no second factor yet: log in on the /office pages to set it up",
    )


def _accept(
    ctx: Context, caller: Caller, code: str, then: Callable[[sqlite3.Connection], None]
) -> str:
    """Take `code` of `caller`'s confirmed second factor: a TOTP code (its step, or a later
    one, never taken before) or an unused recovery code (used up); `then(db)` runs in the
    same transaction. Returns "totp" or "recovery". Errors as `complete_login`."""
    row = store.enrolment(ctx.db, caller.id)
    if row is None or row["confirmed_at"] is None:
        raise _not_enrolled()
    text = normalise(code)
    secret = _open(ctx, caller.id, row) if _TOTP_CODE.fullmatch(text) else None
    counted = sessions.count_attempt(ctx, _throttle_key(caller))
    if secret is not None:
        step = code_step(secret, text, time.time(), int(row["last_step"]))
        if step is not None:
            with transaction(ctx.db):
                if store.take_step(ctx.db, caller.id, step):
                    then(ctx.db)
                    sessions.attempt_succeeded(ctx.db, counted)
                    return "totp"
    elif len(text) == RECOVERY_LENGTH:
        for code_id, hashed in store.unused_recovery_codes(ctx.db, caller.id):
            if _recovery_hasher.verify(text, hashed):
                with transaction(ctx.db):
                    if store.use_recovery_code(ctx.db, code_id, now_iso()):
                        then(ctx.db)
                        sessions.attempt_succeeded(ctx.db, counted)
                        return "recovery"
                break
    sessions.attempt_failed(ctx, counted)
    raise Refused(401, "invalid_second_factor", "that code is not right, or was used already")


def complete_login(ctx: Context, caller: Caller, token: str, code: str) -> str:
    """Complete the session `token` of `caller` (waiting for its second factor) with `code`:
    6 digits from the authenticator app, or a recovery code (used up). Returns "totp" or
    "recovery". Wrong codes are throttled as log-ins.

    Errors: 401 `invalid_second_factor` (wrong, or taken before; nothing changed); 403
    `second_factor_not_enrolled`; 429 `login_throttled` (`Throttled`); 503
    `second_factor_unreadable`."""

    def complete(_db: sqlite3.Connection) -> None:  # ctx.db, in its transaction
        sessions.complete_session(ctx, token)

    return _accept(ctx, caller, code, complete)


def check_login_code(ctx: Context, caller: Caller, otp: str | None) -> None:
    """The second factor sent along with a password (`POST /auth/token`'s `otp`), for
    `domain.sessions.log_in`: returns when it is right (and takes it), else raises.

    Errors: 401 `second_factor_required` (no `otp`), `invalid_second_factor`; 403
    `second_factor_not_enrolled` (set it up on the /office pages first); 429
    `login_throttled`; 503 `second_factor_unreadable`."""
    if state(ctx, caller) != "enrolled":
        raise _not_enrolled()
    if otp is None or not otp.strip():
        raise Refused(
            401,
            "second_factor_required",
            "staff accounts need a second factor: send `otp`, the 6-digit code of the "
            "authenticator app or a recovery code",
        )
    _accept(ctx, caller, otp, lambda db: None)


# ----- administration -----


def reset_second_factor(ctx: Context, caller: Caller | None, username: str, reason: str) -> bool:
    """Remove the second factor of staff account `username` (any case): its secret and
    recovery codes are deleted and every session of it ends, so its next log-in sets up a new
    one. `caller` is the admin doing it, None from the command line on the server (the log
    entry's actor is then `command line`, role `operator`). `reason` (1 to 500 characters) goes
    in the staff log with `staff.second_factor_reset`, in the same transaction. Returns whether
    there was a second factor (set up or being set up).

    Errors: 403 `forbidden` (not an admin); 404 `unknown_account`; 409 `not_staff`,
    `cannot_reset_self` (an admin resets another admin's, never their own); 422
    `reason_required`, `too_long`."""
    if caller is not None and caller.role != "admin":
        raise Refused(403, "forbidden", "only an admin resets a second factor")
    reason = " ".join(reason.split())
    if not reason:
        raise Refused(422, "reason_required", "say why")
    if len(reason) > MAX_REASON:
        raise Refused(422, "too_long", f"at most {MAX_REASON} characters")
    with transaction(ctx.db):
        row = accounts.by_username(ctx.db, username)
        if row is None:
            raise Refused(404, "unknown_account", f"no account named {username!r}")
        if row["role"] not in sessions.STAFF_ROLES:
            raise Refused(
                409, "not_staff", f"{row['username']} is a {row['role']}, not a staff account"
            )
        user_id = int(row["id"])
        if caller is not None and caller.id == user_id:
            raise Refused(
                409, "cannot_reset_self", "ask another admin to reset your own second factor"
            )
        had = store.remove(ctx.db, user_id)
        session_store.delete_sessions(ctx.db, user_id)
        actor = caller or Caller(user_id, "command line", "operator", "command line", None)
        staff_log.record(
            ctx, actor, "staff.second_factor_reset", str(row["username"]), reason, enrolled=had
        )
    return had
