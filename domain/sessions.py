"""Log-in and sessions: throttled log-ins (OWASP ASVS 2.2.1), session tokens (only their hash
is stored), logging out of one session or all, purging expired ones, and disabling staff
accounts. Usernames are compared without regard to case (`store.accounts.username_key`)."""

from __future__ import annotations

import hashlib
import math
import time

from domain.context import Caller, Context
from domain.security import DUMMY_HASH, new_session_token, token_hash, verify_password
from heitje.errors import Refused, Throttled
from heitje.settings import Settings
from store import accounts, sessions
from store.db import transaction

STAFF_ROLES = ("admin", "coordinator", "finance", "auditor")
"""Roles without a wallet, created by admins (`create_staff`) and disabled by them."""


def _lockout(failures: int, free: int, settings: Settings) -> float:
    """Seconds a subject is locked after its `failures`-th failure: none before `free`
    failures, then `login_lockout_base` doubling with each failure up to `login_lockout_max`."""
    if failures < free:
        return 0.0
    doubling = settings.login_lockout_base * 2.0 ** min(failures - free, 64)
    return float(min(settings.login_lockout_max, doubling))


def _throttle_subjects(
    settings: Settings, username: str, client: str | None
) -> list[tuple[str, int]]:
    """(subject, free failures) counted for a log-in: the account, and the client address.
    A subject is the sha256 of `account:<username_key>` or `client:<address>`: the table holds
    no username or address (personal data stays out; an erased citizen leaves no trace)."""

    def subject(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    key = accounts.username_key(username)
    subjects = [(subject(f"account:{key}"), settings.login_free_failures)]
    if client:
        subjects.append((subject(f"client:{client}"), settings.login_client_free_failures))
    return subjects


def log_in(
    ctx: Context, username: str, password: str, client: str | None
) -> tuple[Caller, str, int]:
    """Check a log-in and start a session: (the account, bearer token, lifetime in seconds).

    `username` is compared without regard to case; `client` is the client's address (IP).
    Throttled per account and per client (OWASP ASVS 2.2.1; settings `login_*`): while either
    is locked the password is not even checked. Only the token's hash is stored. A successful
    log-in clears the account's failures and purges expired sessions and forgotten counters.

    Errors: 429 `login_throttled` (`Throttled`, `retry_after` seconds); 401
    `invalid_credentials` (unknown user or wrong password, the same work and answer for both);
    403 `account_disabled` (the right password of a disabled account).
    """
    settings, db = ctx.settings, ctx.db
    now = time.time()
    subjects = _throttle_subjects(settings, username, client)
    locked_until = 0.0
    for subject, _ in subjects:
        row = sessions.login_failures(db, subject)
        if row is not None:
            locked_until = max(locked_until, float(row["locked_until"]))
    if locked_until > now:
        wait = math.ceil(locked_until - now)
        raise Throttled("login_throttled", f"too many failed log-ins: try again in {wait} s", wait)
    user = accounts.by_username(db, username)
    ok = verify_password(password, user["password_hash"] if user else DUMMY_HASH)
    if user is None or not ok:
        now = time.time()  # the lock runs from the failure's answer, after the hash's work
        with transaction(db):
            for subject, free in subjects:
                row = sessions.login_failures(db, subject)
                forgotten = row is None or row["last_failure"] < now - settings.login_failure_memory
                failures = 1 if row is None or forgotten else int(row["failures"]) + 1
                lock = _lockout(failures, free, settings)
                sessions.set_login_failures(db, subject, failures, now, now + lock if lock else 0.0)
        raise Refused(401, "invalid_credentials", "unknown username or wrong password")
    if user["disabled_at"] is not None:
        raise Refused(403, "account_disabled", "this account is disabled: ask an administrator")
    caller = Caller(user["id"], user["username"], user["role"], user["name"], user["address"])
    with transaction(db):
        sessions.clear_login_failures(db, subjects[0][0])
        sessions.purge_sessions(db, now)
        sessions.purge_login_failures(db, now - settings.login_failure_memory, now)
        token, ttl = open_session(ctx, settings, caller.id)
    return caller, token, ttl


def open_session(ctx: Context, settings: Settings, user_id: int) -> tuple[str, int]:
    """Start a session; returns (bearer token, lifetime in seconds). Only the token's hash is
    stored."""
    token = new_session_token()
    ttl = settings.session_hours * 3600
    sessions.insert_session(ctx.db, token_hash(token), user_id, time.time() + ttl)
    return token, ttl


def session_caller(ctx: Context, token: str | None) -> Caller | None:
    """The account of a live session token, or None (also for a disabled account)."""
    if not token:
        return None
    row = sessions.session_user(ctx.db, token_hash(token), time.time())
    return None if row is None else Caller(**dict(row))


def end_session(ctx: Context, token: str) -> None:
    """End the session `token` (log out: this device only, on the pages and the API alike)."""
    sessions.delete_session(ctx.db, token_hash(token))


def end_sessions(ctx: Context, user_id: int) -> None:
    """End every session of `user_id` (log out everywhere)."""
    sessions.delete_sessions(ctx.db, user_id)


def purge_sessions(ctx: Context) -> int:
    """Delete every expired session; returns how many (also done at each log-in)."""
    return sessions.purge_sessions(ctx.db, time.time())


def set_staff_disabled(ctx: Context, username: str, disabled: bool, by: str | None = None) -> None:
    """Disable a staff account (it cannot log in, and its sessions end at once) or enable it
    again. Idempotent. `by`: the admin's username (an admin cannot disable themselves, so one
    enabled admin always remains); None from the command line.

    Errors: 404 `unknown_account`; 409 `not_staff` (a citizen or shop), `cannot_disable_self`.
    """
    with transaction(ctx.db):
        row = accounts.by_username(ctx.db, username)
        if row is None:
            raise Refused(404, "unknown_account", f"no account named {username!r}")
        if row["role"] not in STAFF_ROLES:
            raise Refused(
                409, "not_staff", f"{row['username']} is a {row['role']}, not a staff account"
            )
        if disabled and by is not None and accounts.username_key(by) == row["username_key"]:
            raise Refused(409, "cannot_disable_self", "an admin cannot disable their own account")
        sessions.set_disabled(ctx.db, int(row["id"]), disabled)
