"""Who gets paid for a shop's redemptions: payee data kept off chain in the service database.

Shop IBANs are personal/business data: they live in `shops` (joined with `users`), never on
chain. Redemptions name the shop's chain address; `account_addresses` keeps every address an
account ever had, so redemptions made before a key rotation still find their payee.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class ShopPayee:
    """Who gets paid for a shop's redemptions: chain `address` (checksum), the shop's id and
    name, its `iban` (spaces and case are normalised) and optional `bic` (None = IBAN-only);
    `sepa_name`: the name as checked and transliterated at sign-up (EPC basic Latin set), None
    for shops from before that check."""

    address: str
    shop_id: str
    name: str
    iban: str
    bic: str | None = None
    sepa_name: str | None = None


def load_payees(conn: sqlite3.Connection) -> dict[str, ShopPayee]:
    """Every address any shop has had (key rotations included): address -> ShopPayee(address,
    shop_id (the username), name, iban, bic, sepa_name)."""
    rows = conn.execute(
        "SELECT a.address, u.username, u.name, s.iban, s.bic, s.sepa_name "
        "FROM account_addresses a JOIN users u ON u.id = a.user_id "
        "JOIN shops s ON s.user_id = u.id"
    ).fetchall()
    return {
        a: ShopPayee(address=a, shop_id=u, name=n, iban=i, bic=b, sepa_name=sn)
        for a, u, n, i, b, sn in rows
    }


def set_sepa_name(conn: sqlite3.Connection, user_id: int, sepa_name: str) -> None:
    """Keep the shop's name as a SEPA transfer carries it (checked at sign-up)."""
    conn.execute("UPDATE shops SET sepa_name = ? WHERE user_id = ?", (sepa_name, user_id))
