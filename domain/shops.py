"""A shop's own affairs: the checks of its sign-up details (KvK number, Dutch postcode), the
payments it received (to refund one), its redemptions and where each is in the settlement
(waiting, in which pain.001 file, or paid on which day), and rows for its bookkeeper's CSV export.

Amounts are integer base units (1 HEIT = 100); times are aware datetimes in UTC (the store's
ISO 8601 text); the bookkeeper's dates are days in Dutch time (`TIMEZONE`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath
from typing import Literal
from zoneinfo import ZoneInfo

from domain.context import Caller, Context
from domain.schemas import ShopCreate
from domain.settlement.sepa import check_creditor
from heitje.errors import InvalidInput, Refused
from store import bank, shops

TIMEZONE = ZoneInfo("Europe/Amsterdam")
"""The day a payment or redemption falls on, for the bookkeeper, is a day in Dutch time."""

_KVK = re.compile(r"^[0-9]{8}\Z")
_POSTCODE = re.compile(r"^([1-9][0-9]{3}) ?([A-Za-z]{2})\Z")

CREDITOR_FIELDS = {
    "invalid_iban": "iban",
    "iban_not_sepa": "iban",
    "invalid_bic": "iban",
    "bic_mismatch": "iban",
    "invalid_payee_name": "name",
}
"""A payee refusal (`check_creditor`) -> the sign-up field it is about."""


def check_kvk(text: str) -> str:
    """A KvK number (Dutch Chamber of Commerce): exactly 8 digits, spaces around ignored.
    Errors: 422 `invalid_kvk`."""
    kvk = text.strip()
    if _KVK.match(kvk) is None:
        raise Refused(422, "invalid_kvk", "a KvK number is exactly 8 digits")
    return kvk


def normalise_postcode(text: str) -> str:
    """A Dutch postcode, 4 digits (not starting with 0) and 2 letters, written "1234 AB"
    ("1234ab", "1234 ab" are the same). Errors: 422 `invalid_postcode`."""
    m = _POSTCODE.match(text.strip())
    if m is None:
        raise Refused(422, "invalid_postcode", "a Dutch postcode is 4 digits and 2 letters")
    return f"{m.group(1)} {m.group(2).upper()}"


@dataclass(frozen=True)
class ShopDetails:
    """A shop's KvK number and structured address as stored (None: not given)."""

    kvk: str | None
    street: str | None
    house_number: str | None
    postcode: str | None
    town: str | None


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return " ".join(value.split())


def details_of(body: ShopCreate) -> ShopDetails:
    """The KvK number and address of a sign-up, checked and normalised (blank = not given).

    Errors: 422 `invalid_kvk`, `invalid_postcode`.
    """
    kvk = _text(body.kvk)
    postcode = _text(body.postcode)
    return ShopDetails(
        kvk=None if kvk is None else check_kvk(kvk),
        street=_text(body.street),
        house_number=_text(body.house_number),
        postcode=None if postcode is None else normalise_postcode(postcode),
        town=_text(body.town),
    )


def store_details(ctx: Context, user_id: int, body: ShopCreate) -> None:
    """Keep the sign-up's KvK number and address for shop `user_id` (inside the sign-up's
    transaction). Errors: as `details_of`."""
    d = details_of(body)
    shops.set_details(ctx.db, user_id, d.kvk, d.street, d.house_number, d.postcode, d.town)


def signup_problems(body: ShopCreate) -> dict[str, str]:
    """What `accounts.sign_up_shop` would refuse in `body`'s own fields, all at once (for a
    form that shows every error next to its field): field (kvk, postcode, iban, name) -> error
    code. Checks nothing in the database (a taken username shows at sign-up) and changes
    nothing."""
    problems: dict[str, str] = {}
    if body.kvk is not None and body.kvk.strip():
        try:
            check_kvk(body.kvk)
        except Refused as e:
            problems["kvk"] = e.code
    if body.postcode is not None and body.postcode.strip():
        try:
            normalise_postcode(body.postcode)
        except Refused as e:
            problems["postcode"] = e.code
    try:
        check_creditor(body.name, body.iban, body.bic, "shop")
    except InvalidInput as e:
        problems[CREDITOR_FIELDS.get(e.code, "iban")] = e.code
    return problems


def _shop(caller: Caller) -> None:
    if caller.role != "shop":
        raise Refused(403, "forbidden", "only shops have this")


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ----- payments received -----


@dataclass(frozen=True)
class IncomingPayment:
    """A payment a citizen made to the shop: `id` (what a refund names), the payer's username
    and name, `amount`, `refunded` (refunds confirmed or on their way) and `refundable` (what
    is left) in base units, `status` pending | confirmed, `at` when it was made (UTC)."""

    id: int
    payer: str
    payer_name: str
    amount: int
    refunded: int
    refundable: int
    status: str
    at: datetime


def _incoming(row: sqlite3.Row) -> IncomingPayment:
    amount, refunded = int(row["amount"]), int(row["refunded"])
    return IncomingPayment(
        id=int(row["id"]),
        payer=str(row["payer"]),
        payer_name=str(row["payer_name"]),
        amount=amount,
        refunded=refunded,
        refundable=max(0, amount - refunded),
        status=str(row["status"]),
        at=_utc(str(row["created_at"])),
    )


def incoming_payments(ctx: Context, shop: Caller, limit: int = 50) -> list[IncomingPayment]:
    """The shop's last `limit` (1..500) payments from citizens that the chain did not refuse,
    newest first. Errors: 403 `forbidden` for anyone but a shop."""
    _shop(shop)
    limit = max(1, min(limit, 500))
    return [_incoming(r) for r in shops.received(ctx.db, shop.id, limit)]


def incoming_payment(ctx: Context, shop: Caller, payment_id: int) -> IncomingPayment:
    """The payment `payment_id` a citizen made to `shop` (to refund it).

    Errors: 403 `forbidden` for anyone but a shop; 404 `payment_not_found` (none, someone
    else's, or refused by the chain).
    """
    _shop(shop)
    row = shops.received_one(ctx.db, shop.id, payment_id)
    if row is None:
        raise Refused(404, "payment_not_found", f"{shop.username} received no payment {payment_id}")
    return _incoming(row)


# ----- redemptions -----

RedemptionState = Literal["processing", "waiting", "in_file", "paid"]


@dataclass(frozen=True)
class RedemptionStatus:
    """One of the shop's redemptions (HEIT handed back for euros; one the chain refused is
    none) and where it is:

    - `processing`: the burn is not yet confirmed on chain (`redemption_id` None);
    - `waiting`: burned, not yet in a settlement (payment) file;
    - `in_file`: in the pain.001 file `file_name` of batch `batch_id` (its MsgId), the bank
      transfer asked for `execution_date`;
    - `paid`: as `in_file`, and the bank's statement (camt.053, `domain.settlement.bank`)
      booked the payment on `paid_on`.

    `id` is the request's number, `amount` base units, `at` when it was asked (UTC).
    """

    id: int
    redemption_id: int | None
    amount: int
    at: datetime
    state: RedemptionState
    batch_id: str | None = None
    file_name: str | None = None
    execution_date: date | None = None
    paid_on: date | None = None


def _with_paid(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[RedemptionStatus]:
    """`rows` as `RedemptionStatus`, paid ones with the day the bank booked them."""
    days = bank.redemptions_paid_on(
        conn, (int(r["redemption_id"]) for r in rows if r["batch_id"] is not None)
    )
    out = []
    for row in rows:
        status = _redemption(row)
        day = days.get(status.redemption_id or 0)
        if day is not None:
            status = replace(status, state="paid", paid_on=date.fromisoformat(day))
        out.append(status)
    return out


def _redemption(row: sqlite3.Row) -> RedemptionStatus:
    state: RedemptionState
    if row["redemption_id"] is None:
        state = "processing"
    elif row["batch_id"] is None:
        state = "waiting"
    else:
        state = "in_file"
    execution = row["execution_date"]
    return RedemptionStatus(
        id=int(row["id"]),
        redemption_id=None if row["redemption_id"] is None else int(row["redemption_id"]),
        amount=int(row["amount"]),
        at=_utc(str(row["created_at"])),
        state=state,
        batch_id=None if row["batch_id"] is None else str(row["batch_id"]),
        file_name=None if row["file_path"] is None else PurePosixPath(row["file_path"]).name,
        execution_date=None if execution is None else date.fromisoformat(str(execution)[:10]),
    )


def redemption_statuses(ctx: Context, shop: Caller, limit: int = 50) -> list[RedemptionStatus]:
    """The shop's last `limit` (1..500) redemptions, newest first, each with where it is
    (`RedemptionStatus`). Errors: 403 `forbidden` for anyone but a shop."""
    _shop(shop)
    limit = max(1, min(limit, 500))
    return _with_paid(ctx.db, shops.redemptions(ctx.db, shop.id, limit))


# ----- the bookkeeper's export -----

EXPORT_KINDS = ("payments", "redemptions")
MAX_EXPORT_DAYS = 366 * 5
"""The longest date range one export covers."""


def _day_bounds(start: date, end: date) -> tuple[str, str]:
    """ISO 8601 UTC text of the start of day `start` and of the day after `end` (Dutch
    time)."""
    first = datetime.combine(start, time(0), TIMEZONE).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(0), TIMEZONE).astimezone(UTC)
    return first.isoformat(), after.isoformat()


def check_range(start: date, end: date) -> None:
    """A date range for the export: `start` not after `end`, at most `MAX_EXPORT_DAYS` days.
    Errors: 422 `invalid_date_range`."""
    if start > end:
        raise Refused(422, "invalid_date_range", "the first day is after the last day")
    if (end - start).days >= MAX_EXPORT_DAYS:
        raise Refused(422, "invalid_date_range", f"at most {MAX_EXPORT_DAYS} days at a time")


def payments_between(ctx: Context, shop: Caller, start: date, end: date) -> list[IncomingPayment]:
    """The shop's payments from citizens (not refused) made on days `start` through `end`
    (inclusive, Dutch time), oldest first. Errors: 403 `forbidden`; 422 `invalid_date_range`."""
    _shop(shop)
    check_range(start, end)
    first, after = _day_bounds(start, end)
    return [_incoming(r) for r in shops.received_between(ctx.db, shop.id, first, after)]


def redemptions_between(
    ctx: Context, shop: Caller, start: date, end: date
) -> list[RedemptionStatus]:
    """The shop's redemptions asked on days `start` through `end` (inclusive, Dutch time),
    oldest first. Errors: 403 `forbidden`; 422 `invalid_date_range`."""
    _shop(shop)
    check_range(start, end)
    first, after = _day_bounds(start, end)
    return _with_paid(ctx.db, shops.redemptions_between(ctx.db, shop.id, first, after))
