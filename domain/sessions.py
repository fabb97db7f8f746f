"""Log-in and sessions: throttled log-ins (OWASP ASVS 2.2.1), session tokens (only their hash
is stored), logging out of one session or all, purging expired ones, and disabling staff
accounts. Usernames are compared without regard to case (`store.accounts.username_key`)."""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from domain import staff_log
from domain.context import Caller, Context
from domain.security import DUMMY_HASH, new_session_token, token_hash, verify_password
from heitje.errors import Refused, Throttled
from heitje.settings import Settings
from store import accounts, sessions
from store.db import transaction

STAFF_ROLES = ("admin", "coordinator", "finance", "auditor")
"""Roles without a wallet, created by admins (`create_staff`) and disabled by them."""


PENDING_SECONDS = 1800
"""Seconds a session waiting for its second factor lives (time to install an authenticator
app); it gets the full `session_hours` once the code is given (`complete_session`)."""


def needs_second_factor(settings: Settings, role: str) -> bool:
    """True when an account of `role` needs a second factor after its password: staff, while
    the setting `staff_second_factor` is on (`domain.second_factor`)."""
    return settings.staff_second_factor and role in STAFF_ROLES


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


@dataclass(frozen=True)
class _Counted:
    """One subject's count after an attempt was counted in advance: `before` is its row
    (failures, last_failure, locked_until) before, None when there was none; `failures`,
    `counted_at` and `locked_until` what was stored; `lock` the lockout in seconds (0: none)."""

    subject: str
    before: tuple[int, float, float] | None
    failures: int
    counted_at: float
    locked_until: float
    lock: float


def _locked_until(row: sqlite3.Row) -> float:
    """The `locked_until` of a `login_failures` row, in Unix seconds."""
    return float(row["locked_until"])


def _count_attempt(ctx: Context, subjects: list[tuple[str, int]]) -> list[_Counted]:
    """In one BEGIN IMMEDIATE transaction: refuse while any subject is locked (nothing is
    counted), else count this attempt as a failure of every subject, which sets the next lock
    past its free failures. Concurrent attempts queue on the write lock, so each sees the
    counts (and locks) of the ones before it.

    Errors: 429 `login_throttled` (`Throttled`, `retry_after` seconds)."""
    settings, db = ctx.settings, ctx.db
    counted: list[_Counted] = []
    with transaction(db):
        now = time.time()
        rows = [(subject, free, sessions.login_failures(db, subject)) for subject, free in subjects]
        locked_until = max((float(r["locked_until"]) for _, _, r in rows if r), default=0.0)
        if locked_until > now:
            wait = math.ceil(locked_until - now)
            raise Throttled(
                "login_throttled", f"too many failed log-ins: try again in {wait} s", wait
            )
        for subject, free, row in rows:
            before = None
            if row is not None:
                before = (int(row["failures"]), float(row["last_failure"]), _locked_until(row))
            forgotten = row is None or row["last_failure"] < now - settings.login_failure_memory
            failures = 1 if row is None or forgotten else int(row["failures"]) + 1
            lock = _lockout(failures, free, settings)
            until = now + lock if lock else 0.0
            sessions.set_login_failures(db, subject, failures, now, until)
            counted.append(_Counted(subject, before, failures, now, until, lock))
    return counted


def _take_back(db: sqlite3.Connection, counted: _Counted) -> None:
    """Undo an attempt counted in advance (the password was right). When the row is still the
    one this attempt wrote, it gets back what it was before (its lock too); when later
    attempts counted since, only this attempt's failure is taken off (their locks stay).
    Run it inside the caller's transaction."""
    row = sessions.login_failures(db, counted.subject)
    if row is None:
        return
    ours = (counted.failures, counted.counted_at, counted.locked_until)
    if (int(row["failures"]), float(row["last_failure"]), _locked_until(row)) == ours:
        if counted.before is None:
            sessions.clear_login_failures(db, counted.subject)
        else:
            sessions.set_login_failures(db, counted.subject, *counted.before)
    else:
        failures = max(0, int(row["failures"]) - 1)
        sessions.set_login_failures(
            db, counted.subject, failures, float(row["last_failure"]), _locked_until(row)
        )


def log_in(
    ctx: Context,
    username: str,
    password: str,
    client: str | None,
    second_factor: Callable[[Caller], None] | None = None,
) -> tuple[Caller, str, int]:
    """Check a log-in and start a session: (the account, bearer token, lifetime in seconds).

    A staff account that needs a second factor (`needs_second_factor`) gets a session that
    counts for nothing yet (`session_caller` does not know it; `pending_caller` does) until
    `domain.second_factor` completes it; or, when `second_factor` is given, that is called
    with the account once its password is right (it checks the code sent along and raises
    to refuse: no session then) and the session is complete at once.

    `username` is compared without regard to case; `client` is the client's address (IP).
    Throttled per account and per client (OWASP ASVS 2.2.1; settings `login_*`): while either
    is locked the password is not even checked. Each attempt is counted as a failure of both
    BEFORE its password is checked (one BEGIN IMMEDIATE transaction: concurrent attempts see
    each other's counts), so parallel requests cannot get around a lock: past the free
    failures at most one attempt per lockout has its password checked. A wrong password keeps
    the count and its lock runs from the answer (after the hash's work); the right one takes
    the count back: it clears the account's failures (not the client's: only this attempt is
    taken off), and purges expired sessions and forgotten counters. Only the token's hash is
    stored.

    Errors: 429 `login_throttled` (`Throttled`, `retry_after` seconds); 401
    `invalid_credentials` (unknown user or wrong password, the same work and answer for both);
    403 `account_disabled` (the right password of a disabled account; not counted).
    """
    settings, db = ctx.settings, ctx.db
    subjects = _throttle_subjects(settings, username, client)
    counted = _count_attempt(ctx, subjects)
    user = accounts.by_username(db, username)
    ok = verify_password(password, user["password_hash"] if user else DUMMY_HASH)
    if user is None or not ok:
        now = time.time()  # the lock runs from the failure's answer, after the hash's work
        with transaction(db):
            for c in counted:
                sessions.restamp_login_failure(db, c.subject, now, now + c.lock if c.lock else 0.0)
        raise Refused(401, "invalid_credentials", "unknown username or wrong password")
    if user["disabled_at"] is not None:
        with transaction(db):
            for c in counted:
                _take_back(db, c)
        raise Refused(403, "account_disabled", "this account is disabled: ask an administrator")
    caller = Caller(user["id"], user["username"], user["role"], user["name"], user["address"])
    pending = needs_second_factor(settings, caller.role)
    now = time.time()
    with transaction(db):
        sessions.clear_login_failures(db, counted[0].subject)
        for c in counted[1:]:
            _take_back(db, c)
        sessions.purge_sessions(db, now)
        sessions.purge_login_failures(db, now - settings.login_failure_memory, now)
        if not (pending and second_factor is not None):
            token, ttl = open_session(ctx, settings, caller.id, pending=pending)
            return caller, token, ttl
    assert second_factor is not None
    second_factor(caller)  # raises to refuse
    with transaction(db):
        token, ttl = open_session(ctx, settings, caller.id)
    return caller, token, ttl


def open_session(
    ctx: Context, settings: Settings, user_id: int, *, pending: bool = False
) -> tuple[str, int]:
    """Start a session; returns (bearer token, lifetime in seconds). Only the token's hash is
    stored. `pending`: it waits for the account's second factor (`domain.second_factor`) and
    lives at most `PENDING_SECONDS` until then (the lifetime returned is the full one, for the
    cookie)."""
    token = new_session_token()
    ttl = settings.session_hours * 3600
    expires = time.time() + (min(ttl, PENDING_SECONDS) if pending else ttl)
    sessions.insert_session(ctx.db, token_hash(token), user_id, expires, pending)
    return token, ttl


def complete_session(ctx: Context, token: str) -> bool:
    """Mark the session `token`, waiting for its second factor, complete: it counts from now
    on, for the full `session_hours`. False when there is no such session. Run it inside the
    transaction that took the code."""
    expires = time.time() + ctx.settings.session_hours * 3600
    return sessions.complete_session(ctx.db, token_hash(token), expires)


def session_caller(ctx: Context, token: str | None) -> Caller | None:
    """The account of a live session token, or None (also for a disabled account, and for a
    staff session still waiting for its second factor: every page and endpoint refuses it)."""
    if not token:
        return None
    row = sessions.session_user(ctx.db, token_hash(token), time.time())
    return None if row is None else Caller(**dict(row))


def pending_caller(ctx: Context, token: str | None) -> Caller | None:
    """The account of a live session token that waits for its second factor, or None (no
    such session, a complete one, a disabled account). Only the second-factor pages use it."""
    if not token:
        return None
    row = sessions.session_user(ctx.db, token_hash(token), time.time(), pending=True)
    return None if row is None else Caller(**dict(row))


# ----- throttling other secrets (second-factor codes) as log-ins -----


def count_attempt(ctx: Context, key: str) -> _Counted:
    """Count an attempt at the secret named `key` (e.g. `second_factor:<user id>`; stored as
    its sha256) as a failure BEFORE it is checked, as log-ins are: `login_free_failures`
    free, then locks doubling from `login_lockout_base` up to `login_lockout_max`. Follow
    with `attempt_failed` or `attempt_succeeded`.

    Errors: 429 `login_throttled` (`Throttled`, `retry_after` seconds) while locked."""
    subject = hashlib.sha256(key.encode()).hexdigest()
    return _count_attempt(ctx, [(subject, ctx.settings.login_free_failures)])[0]


def attempt_failed(ctx: Context, counted: _Counted) -> None:
    """The attempt was wrong: its count stays, its lock runs from now."""
    now = time.time()
    with transaction(ctx.db):
        sessions.restamp_login_failure(
            ctx.db, counted.subject, now, now + counted.lock if counted.lock else 0.0
        )


def attempt_succeeded(db: sqlite3.Connection, counted: _Counted) -> None:
    """The attempt was right: forget the subject's failures. Run it inside the caller's
    transaction."""
    sessions.clear_login_failures(db, counted.subject)


def end_session(ctx: Context, token: str) -> None:
    """End the session `token` (log out: this device only, on the pages and the API alike)."""
    sessions.delete_session(ctx.db, token_hash(token))


def end_sessions(ctx: Context, user_id: int) -> None:
    """End every session of `user_id` (log out everywhere)."""
    sessions.delete_sessions(ctx.db, user_id)


def purge_sessions(ctx: Context) -> int:
    """Delete every expired session; returns how many (also done at each log-in)."""
    return sessions.purge_sessions(ctx.db, time.time())


def set_staff_disabled(
    ctx: Context,
    username: str,
    disabled: bool,
    by: str | None = None,
    *,
    caller: Caller | None = None,
    reason: str = "",
) -> None:
    """Disable a staff account (it cannot log in, and its sessions end at once) or enable it
    again. Idempotent. `by`: the admin's username (an admin cannot disable themselves); None
    from the command line. With `caller` (the admin; `by` is then theirs) a change goes in the
    staff log (`staff.disable`, `staff.enable`, with `reason`) in the same transaction. One
    enabled admin always remains: disabling the last enabled admin is refused, from the API
    and the command line alike, checked inside the transaction (two admins disabling each
    other at the same time: the second is refused).

    Errors: 404 `unknown_account`; 409 `not_staff` (a citizen or shop), `cannot_disable_self`,
    `last_admin`.
    """
    if caller is not None:
        by = caller.username
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
        others = [i for i in sessions.enabled_admins(ctx.db) if i != int(row["id"])]
        if disabled and row["role"] == "admin" and row["disabled_at"] is None and not others:
            raise Refused(409, "last_admin", f"{row['username']} is the last enabled admin account")
        sessions.set_disabled(ctx.db, int(row["id"]), disabled)
        if caller is not None and (row["disabled_at"] is None) == disabled:
            action = "staff.disable" if disabled else "staff.enable"
            staff_log.record(ctx, caller, action, row["username"], reason)
