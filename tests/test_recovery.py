"""Recovery and own wallets over real HTTP on a real anvil chain (issue 3, points 4 and 6).

- Key rotation (admins): `recoverAccount` moves the whole balance and the citizen's rewards in
  the current period to a fresh custodial key; the old address is deregistered; the person keeps
  username and password and pays from the new address.
- Erasure (GDPR): the balance moves to a pseudonymous account (reason erasure request), or the
  address is deregistered and the key deleted; nothing personal stays in service.sqlite.
- A shop with its own Ethereum wallet: proves the address at sign-up (EIP-191), takes payments,
  refunds and redeems by signing with its own key (relayed, the service pays gas); EIP-2612
  `permit` is on the token.

One stack per test, related checks grouped. Amounts in base units (1 HEIT = 100), worked out
by hand from the rules: citizens pay shops, shops refund citizens, only shops redeem.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from domain.accounts import wallet_claim
from domain.settlement import read_pain001, run_settlement
from heitje.errors import ChainError
from node.contract import AccountKind
from node.keys import service_key
from node.signer import Signer
from node.token import Authorization, RecoveryReason
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


@pytest.fixture
def api(stack: Stack) -> Any:
    client = Api(stack)
    try:
        yield client
    finally:
        client.close()


def recovered_events(stack: Stack) -> list[dict[str, Any]]:
    """Every AccountRecovered event: from, to, amount, reason."""
    logs = stack.token.contract.events.AccountRecovered().get_logs(
        from_block=stack.manifest.deploy_block
    )
    return [dict(ev["args"]) for ev in logs]


def transfers_in(stack: Stack, tx_hash: str) -> list[tuple[str, str, int]]:
    """(from, to, value) of the ERC-20 Transfer events in a transaction."""
    receipt = stack.token.w3.eth.get_transaction_receipt(tx_hash)
    events = stack.token.contract.events.Transfer().process_receipt(receipt, errors=DISCARD)
    return [(e["args"]["from"], e["args"]["to"], int(e["args"]["value"])) for e in events]


def service_db_row(stack: Stack, sql: str, *args: Any) -> tuple[Any, ...] | None:
    db = sqlite3.connect(f"file:{stack.data_dir / 'service.sqlite'}?mode=ro", uri=True)
    try:
        row = db.execute(sql, args).fetchone()
    finally:
        db.close()
    return None if row is None else tuple(row)


def user_id(stack: Stack, username: str) -> int:
    row = service_db_row(stack, "SELECT id FROM users WHERE username = ?", username)
    assert row is not None, username
    return int(row[0])


def personal_data_hits(path: Path, needles: list[str]) -> list[str]:
    """Where any of `needles` (case-insensitive) occurs in any column of any table of the
    SQLite file `path`. Checkpoints the WAL first; reading through SQLite sees WAL content too."""
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        hits = []
        for table in tables:
            columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = (
                        value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    ).lower()
                    hits += [f"{table}.{column}: {n!r}" for n in needles if n.lower() in text]
        return hits
    finally:
        db.close()


def relay_body(auth: Authorization) -> dict[str, Any]:
    """The JSON body of POST /relay/transfer for a signed TransferWithAuthorization."""
    frm, to, value, after, before, nonce, v, r, s = auth.args
    return {
        "from": frm,
        "to": to,
        "value": value,
        "valid_after": after,
        "valid_before": before,
        "nonce": "0x" + nonce.hex(),
        "v": v,
        "r": "0x" + r.hex(),
        "s": "0x" + s.hex(),
    }


def redeem_body(auth: Authorization) -> dict[str, Any]:
    """The JSON body of POST /relay/redeem for a signed RedeemWithAuthorization."""
    shop, amount, after, before, nonce, v, r, s = auth.args
    return {
        "shop": shop,
        "amount": amount,
        "valid_after": after,
        "valid_before": before,
        "nonce": "0x" + nonce.hex(),
        "v": v,
        "r": "0x" + r.hex(),
        "s": "0x" + s.hex(),
    }


# ----- key rotation -----


def test_key_rotation_moves_balance_and_cap_to_a_new_key(api: Api, stack: Stack) -> None:
    token = stack.token
    api.staff("coco", "coordinator")
    api.staff("audrey", "auditor")
    api.citizen("anna")
    api.shop("bakker", IBAN_BAKKER)
    api.wait_registered("anna", "bakker")
    anna_old, bakker_old = api.addresses["anna"], api.addresses["bakker"]

    # Reward 15.00, pay 4.50: anna 10.50, bakker 4.50; anna earned 15.00 this period.
    api.reward("t-1", "15.00", "anna")
    r = api.request("POST", "/payments", "anna", json={"to": "bakker", "amount": "4.50"})
    assert r.status_code == 201, r.text
    assert (token.balance_of(anna_old), token.balance_of(bakker_old)) == (1050, 450)
    assert token.rewards_in_current_period(anna_old) == 1500

    # Who may rotate: admins only; only citizens and shops with a custodial wallet.
    body = {"reason": "lost_key"}
    assert code(api.request("POST", "/accounts/anna/rotate-key", "anna", json=body)) == (
        403,
        "forbidden",
    )
    assert code(api.request("POST", "/accounts/anna/rotate-key", "coco", json=body)) == (
        403,
        "forbidden",
    )
    assert code(api.request("POST", "/accounts/anna/rotate-key", json=body)) == (
        401,
        "unauthorized",
    )
    assert code(api.request("POST", "/accounts/nobody/rotate-key", "admin", json=body)) == (
        404,
        "unknown_account",
    )
    assert code(api.request("POST", "/accounts/coco/rotate-key", "admin", json=body)) == (
        409,
        "no_custodial_wallet",
    )
    assert code(
        api.request("POST", "/accounts/anna/rotate-key", "admin", json={"reason": "whim"})
    ) == (422, "invalid_request")
    assert token.balance_of(anna_old) == 1050  # nothing moved

    # Rotation (lost key).
    r = api.request("POST", "/accounts/anna/rotate-key", "admin", json=body)
    assert r.status_code == 200, r.text
    rotated = r.json()
    anna_new = rotated["address"]
    assert rotated == {
        "username": "anna",
        "role": "citizen",
        "name": "Anna Jansen",
        "address": anna_new,
        "registered": True,
    }
    assert anna_new != anna_old and anna_new.startswith("0x") and len(anna_new) == 42
    api.addresses["anna"] = anna_new

    # On chain: the old address is empty and unregistered, the new one holds everything.
    assert token.balance_of(anna_old) == 0
    assert token.account_kind(anna_old) == AccountKind.NONE
    assert token.balance_of(anna_new) == 1050
    assert token.account_kind(anna_new) == AccountKind.CITIZEN
    assert token.total_supply() == 1500  # nothing minted or burned
    # The period's rewards moved along, so the cap per citizen cannot be dodged.
    assert token.rewards_in_current_period(anna_old) == 0
    assert token.rewards_in_current_period(anna_new) == 1500
    assert recovered_events(stack) == [
        {"from": anna_old, "to": anna_new, "amount": 1050, "reason": RecoveryReason.LOST_KEY}
    ]
    assert RecoveryReason.LOST_KEY == 0
    # The custodial key row now holds the new address; no pending rotation is left.
    assert service_db_row(
        stack,
        "SELECT k.address FROM custodial_keys k JOIN users u ON u.id = k.user_id "
        "WHERE u.username = 'anna'",
    ) == (anna_new,)
    assert service_db_row(stack, "SELECT COUNT(*) FROM key_rotations") == (0,)

    # Same username and password: a new login, and /auth/me shows the new address.
    api.tokens.pop("anna")
    me = api.request("GET", "/auth/me", "anna").json()
    assert (me["address"], me["registered"]) == (anna_new, True)
    # anna pays bakker 2.00 from the new address: anna 8.50, bakker 6.50.
    r = api.request("POST", "/payments", "anna", json={"to": "bakker", "amount": "2.00"})
    assert r.status_code == 201, r.text
    assert transfers_in(stack, r.json()["tx_hash"]) == [(anna_new, bakker_old, 200)]
    assert (token.balance_of(anna_new), token.balance_of(bakker_old)) == (850, 650)
    # A new reward goes to the new address and counts on top of the moved 15.00: 20.00.
    api.reward("t-2", "5.00", "anna")
    assert token.balance_of(anna_new) == 1350 and token.balance_of(anna_old) == 0
    assert token.rewards_in_current_period(anna_new) == 2000

    # The mirror, once caught up, shows the balance at the new address.
    wallet = api.wallet_synced("anna")
    assert (wallet["address"], wallet["balance"]) == (anna_new, "13.50")
    # History is keyed by address: record what is (and is not) visible after the rotation.
    # History spans both addresses; the move between them is no payment and is not listed.
    history = api.request("GET", "/wallet/history", "anna").json()
    seen = sorted((h["kind"], h["amount"], h["counterparty"]) for h in history)
    assert seen == sorted(
        [
            ("reward", "15.00", None),
            ("sent", "4.50", "bakker"),
            ("sent", "2.00", "bakker"),
            ("reward", "5.00", None),
        ]
    )

    # bakker redeems 1.00 before its own rotation (redemption 1, from the old address).
    r = api.request("POST", "/redemptions", "bakker", json={"amount": "1.00"})
    assert r.status_code == 201 and r.json()["redemption_id"] == 1, r.text

    # A shop's custodial key can be rotated too (reason key_rotation, kind shop).
    r = api.request("POST", "/accounts/bakker/rotate-key", "admin", json={"reason": "key_rotation"})
    assert r.status_code == 200, r.text
    bakker_new = r.json()["address"]
    assert bakker_new != bakker_old and r.json()["role"] == "shop"
    api.addresses["bakker"] = bakker_new
    assert (token.balance_of(bakker_old), token.account_kind(bakker_old)) == (0, AccountKind.NONE)
    assert (token.balance_of(bakker_new), token.account_kind(bakker_new)) == (550, AccountKind.SHOP)
    assert recovered_events(stack)[1:] == [
        {
            "from": bakker_old,
            "to": bakker_new,
            "amount": 550,
            "reason": RecoveryReason.KEY_ROTATION,
        }
    ]
    # bakker refunds anna 0.50 and redeems 1.00 from the new address: anna 14.00, bakker 4.00.
    r = api.request("POST", "/payments", "bakker", json={"to": "anna", "amount": "0.50"})
    assert r.status_code == 201, r.text
    assert transfers_in(stack, r.json()["tx_hash"]) == [(bakker_new, anna_new, 50)]
    r = api.request("POST", "/redemptions", "bakker", json={"amount": "1.00"})
    assert r.status_code == 201, r.text
    assert r.json()["redemption_id"] == 2
    assert token.redemption(1)[0] == bakker_old and token.redemption(2)[0] == bakker_new
    assert (token.balance_of(anna_new), token.balance_of(bakker_new)) == (1400, 400)
    # 15.00 + 5.00 minted - 2 x 1.00 redeemed = 18.00 = 14.00 + 4.00.
    assert token.total_supply() == 1800 == token.total_minted() - token.total_redeemed()
    # Both old custodial addresses stay deregistered (no account kind, so they hold nothing).
    assert token.account_kind(anna_old) == token.account_kind(bakker_old) == AccountKind.NONE

    assert api.wallet_synced("bakker")["balance"] == "4.00"
    accounts = api.request("GET", "/audit/accounts", "audrey").json()
    assert {(a["username"], a["address"], a["balance"]) for a in accounts} == {
        ("anna", anna_new, "14.00"),
        ("bakker", bakker_new, "4.00"),
    }
    # Settlement pays both redemptions to bakker's IBAN, from the old and the new address.
    head = int(stack.token.w3.eth.block_number)
    _wait_mirror(stack, head)
    result = run_settlement(
        stack.data_dir,
        through=None,
        through_block=head,
        name="Gemeente Test",
        iban="NL91ABNA0417164300",
        bic=None,
        eur_per_heitje="1.00",
        now=datetime.now(UTC),
        rpc_url=stack.rpc_url,
    )
    assert result is not None and result["total_cents"] == 200
    paid = read_pain001(stack.data_dir / result["xml_path"])
    assert sum(p.cents for p in paid) == 200
    assert {p.creditor_iban for p in paid} == {IBAN_BAKKER.replace(" ", "")}
    assert token.settlement_of(1) == token.settlement_of(2) != bytes(32)
    api.check_responses()


def _wait_mirror(stack: Stack, block: int) -> None:
    from indexer.mirror import Mirror

    with Mirror(stack.data_dir / "mirror.sqlite") as mirror:
        mirror.wait_until(block, timeout=30)


# ----- erasure -----


def test_erasure_removes_personal_data_and_keeps_the_coins(api: Api, stack: Stack) -> None:
    token = stack.token
    service_db = stack.data_dir / "service.sqlite"
    api.staff("coco", "coordinator")
    api.shop("bakker", IBAN_BAKKER)
    # Personal data made distinctive so that a search for it cannot hit anything else.
    people = {
        "gretazw": ("Margaretha Zwanenburg", "Caumerveld-Oost"),
        "hugovb": ("Hugo Vermeulen-Brand", "Passart-Zuid"),
    }
    for username, (name, neighbourhood) in people.items():
        password = f"pw-{username}-long-enough"
        r = api.request(
            "POST",
            "/citizens",
            json={
                "username": username,
                "password": password,
                "name": name,
                "neighbourhood": neighbourhood,
            },
        )
        assert r.status_code == 201, r.text
        api.passwords[username] = password
        api.addresses[username] = r.json()["address"]
    api.wait_registered("gretazw", "hugovb", "bakker")
    greta_old, hugo_old = api.addresses["gretazw"], api.addresses["hugovb"]
    greta_id, hugo_id = user_id(stack, "gretazw"), user_id(stack, "hugovb")
    # greta: 12.00 reward, pays 2.00: 10.00 left. hugo: nothing.
    api.reward("g-1", "12.00", "gretazw")
    r = api.request("POST", "/payments", "gretazw", json={"to": "bakker", "amount": "2.00"})
    assert r.status_code == 201, r.text
    assert (token.balance_of(greta_old), token.balance_of(hugo_old)) == (1000, 0)
    greta_token = api.token("gretazw")
    api.token("hugovb")  # a live session too

    # Admins only; citizens only.
    assert code(api.request("DELETE", "/citizens/gretazw", "gretazw")) == (403, "forbidden")
    assert code(api.request("DELETE", "/citizens/gretazw", "coco")) == (403, "forbidden")
    assert code(api.request("DELETE", "/citizens/nobody", "admin")) == (404, "unknown_account")
    assert code(api.request("DELETE", "/citizens/bakker", "admin")) == (409, "not_a_citizen")
    assert code(api.request("DELETE", "/citizens/coco", "admin")) == (409, "not_a_citizen")

    # Erase greta (balance 10.00).
    r = api.request("DELETE", "/citizens/gretazw", "admin")
    assert r.status_code == 204 and r.content == b""
    # She can no longer log in, and her session is gone.
    r = api.request(
        "POST", "/auth/token", json={"username": "gretazw", "password": api.passwords["gretazw"]}
    )
    assert code(r) == (401, "invalid_credentials")
    r = api.request("GET", "/auth/me", headers={"Authorization": f"Bearer {greta_token}"})
    assert code(r) == (401, "unauthorized")
    assert code(api.request("DELETE", "/citizens/gretazw", "admin")) == (404, "unknown_account")
    # The coins sit at a new pseudonymous citizen account (reason erasure request, 1).
    events = recovered_events(stack)
    assert len(events) == 1
    greta_new = events[0]["to"]
    assert events[0] == {
        "from": greta_old,
        "to": greta_new,
        "amount": 1000,
        "reason": RecoveryReason.ERASURE_REQUEST,
    }
    assert RecoveryReason.ERASURE_REQUEST == 1
    assert greta_new != greta_old
    assert (token.balance_of(greta_old), token.account_kind(greta_old)) == (0, AccountKind.NONE)
    assert (token.balance_of(greta_new), token.account_kind(greta_new)) == (
        1000,
        AccountKind.CITIZEN,
    )
    assert token.rewards_in_current_period(greta_new) == 1200
    assert token.total_supply() == 1200  # 10.00 + bakker's 2.00
    # The service keeps the key of the pseudonymous account (the coins stay reachable).
    assert service_db_row(
        stack, "SELECT address FROM custodial_keys WHERE user_id = ?", greta_id
    ) == (greta_new,)
    assert service_db_row(stack, "SELECT address FROM users WHERE id = ?", greta_id) == (greta_new,)

    # Erase hugo (no balance): deregistered, no key kept, no address kept.
    r = api.request("DELETE", "/citizens/hugovb", "admin")
    assert r.status_code == 204, r.text
    r = api.request(
        "POST", "/auth/token", json={"username": "hugovb", "password": api.passwords["hugovb"]}
    )
    assert code(r) == (401, "invalid_credentials")
    assert token.account_kind(hugo_old) == AccountKind.NONE
    assert len(recovered_events(stack)) == 1  # nothing to move, nothing recovered
    assert service_db_row(stack, "SELECT 1 FROM custodial_keys WHERE user_id = ?", hugo_id) is None
    assert service_db_row(stack, "SELECT address FROM users WHERE id = ?", hugo_id) == (None,)
    assert service_db_row(
        stack, "SELECT COUNT(*) FROM sessions WHERE user_id IN (?, ?)", greta_id, hugo_id
    ) == (0,)

    # Nothing personal remains: neither in service.sqlite (every table and column, WAL
    # checkpointed) nor in the mirror (which never held any).
    needles = [s for u, (n, h) in people.items() for s in (u, n, h)]
    assert personal_data_hits(service_db, needles) == []
    assert personal_data_hits(stack.data_dir / "mirror.sqlite", needles) == []
    # The other accounts are untouched; the shop list never showed citizens.
    assert {s["username"] for s in api.request("GET", "/shops").json()} == {"bakker"}
    assert token.balance_of(api.addresses["bakker"]) == 200
    api.check_responses()


# ----- a shop with its own wallet -----


def sign_claim(key: LocalAccount, address: str, username: str) -> str:
    signed = key.sign_message(encode_defunct(text=wallet_claim(address, username)))
    return "0x" + bytes(signed.signature).hex()


def test_own_wallet_shop_refunds_and_redeems_by_relay_and_permit(api: Api, stack: Stack) -> None:
    token = stack.token
    w3 = token.w3
    shop_key: LocalAccount = Account.create()
    other_key: LocalAccount = Account.create()
    shop = shop_key.address
    api.staff("coco", "coordinator")
    api.citizen("anna")
    api.shop("kapper", IBAN_KAPPER)  # a custodial shop beside it
    anna = api.addresses["anna"]

    def sign_up(address: str, signature: str) -> httpx.Response:
        return api.request(
            "POST",
            "/shops",
            json={
                "username": "winkel",
                "password": "winkel-password-1",
                "name": "Winkel Eigen",
                "category": "food",
                "iban": IBAN_BAKKER,
                "address": address,
                "signature": signature,
            },
        )

    # Wrong signatures: by another key, by the right key over another username, half a claim.
    assert code(sign_up(shop, sign_claim(other_key, shop, "winkel"))) == (
        422,
        "invalid_signature",
    )
    assert code(sign_up(shop, sign_claim(shop_key, shop, "someone"))) == (
        422,
        "invalid_signature",
    )
    assert code(sign_up(shop, "0x1234")) == (422, "invalid_signature")
    assert code(
        api.request(
            "POST",
            "/shops",
            json={
                "username": "winkel",
                "password": "winkel-password-1",
                "name": "Winkel Eigen",
                "iban": IBAN_BAKKER,
                "address": shop,
            },
        )
    ) == (422, "invalid_signature")
    # The right one.
    r = sign_up(shop.lower(), sign_claim(shop_key, shop, "winkel"))
    assert r.status_code == 201, r.text
    assert r.json() == {
        "username": "winkel",
        "role": "shop",
        "name": "Winkel Eigen",
        "address": shop,
        "registered": False,
    }
    api.passwords["winkel"] = "winkel-password-1"
    api.addresses["winkel"] = shop
    assert service_db_row(
        stack,
        "SELECT COUNT(*) FROM custodial_keys k JOIN users u ON u.id = k.user_id "
        "WHERE u.username = 'winkel'",
    ) == (0,)
    # The same wallet cannot be claimed twice.
    r = api.request(
        "POST",
        "/shops",
        json={
            "username": "winkel2",
            "password": "winkel-password-2",
            "name": "Winkel Twee",
            "iban": IBAN_BAKKER,
            "address": shop,
            "signature": sign_claim(shop_key, shop, "winkel2"),
        },
    )
    assert code(r) == (409, "address_taken")
    api.wait_registered("anna", "kapper", "winkel")
    assert token.account_kind(shop) == AccountKind.SHOP

    # anna earns 20.00 and pays winkel 6.00 (custodial payer, own-wallet payee).
    api.reward("t-1", "20.00", "anna")
    r = api.request("POST", "/payments", "anna", json={"to": "winkel", "amount": "6.00"})
    assert r.status_code == 201, r.text
    assert (token.balance_of(anna), token.balance_of(shop)) == (1400, 600)

    # winkel refunds anna 1.50, signed by its own key and relayed: anna 15.50, winkel 4.50.
    refund = token.authorize_transfer(shop_key, anna, 150)
    body = relay_body(refund)
    r = api.request("POST", "/relay/transfer", "winkel", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["redemption_id"] is None
    assert transfers_in(stack, r.json()["tx_hash"]) == [(shop, anna, 150)]
    assert (token.balance_of(anna), token.balance_of(shop)) == (1550, 450)
    # The shop never paid gas: its own address holds no ether.
    assert w3.eth.get_balance(shop) == 0
    # Replayed: refused, nothing moves.
    assert code(api.request("POST", "/relay/transfer", "winkel", json=body)) == (
        422,
        "authorization_used",
    )
    # Signed by another key for winkel's address.
    forged = relay_body(token.authorize_transfer(other_key, anna, 100))
    forged["from"] = shop
    assert code(api.request("POST", "/relay/transfer", "winkel", json=forged)) == (
        422,
        "invalid_signature",
    )
    # A payer that is not winkel's address (even correctly signed by that address).
    not_mine = relay_body(token.authorize_transfer(other_key, anna, 100))
    assert code(api.request("POST", "/relay/transfer", "winkel", json=not_mine)) == (
        403,
        "not_your_wallet",
    )
    not_mine["from"] = anna
    assert code(api.request("POST", "/relay/transfer", "winkel", json=not_mine)) == (
        403,
        "not_your_wallet",
    )
    # Shops refund citizens only: a transfer to another shop is refused by the token.
    to_shop = relay_body(token.authorize_transfer(shop_key, api.addresses["kapper"], 100))
    assert code(api.request("POST", "/relay/transfer", "winkel", json=to_shop)) == (
        422,
        "transfer_not_allowed",
    )
    # Not a shop: a citizen cannot use the relay, with winkel's signature or its own address.
    assert code(api.request("POST", "/relay/transfer", "anna", json=to_shop)) == (
        403,
        "forbidden",
    )
    assert code(api.request("POST", "/relay/redeem", "anna", json={})) == (403, "forbidden")
    assert (token.balance_of(anna), token.balance_of(shop)) == (1550, 450)

    # Redeem 2.00 by relay: burned, redemption id 1; winkel 2.50, supply 20.00 - 2.00 = 18.00.
    r = api.request(
        "POST",
        "/relay/redeem",
        "winkel",
        json=redeem_body(token.authorize_redemption(shop_key, 200)),
    )
    assert r.status_code == 201, r.text
    assert r.json()["redemption_id"] == 1
    assert transfers_in(stack, r.json()["tx_hash"]) == [
        (shop, "0x0000000000000000000000000000000000000000", 200)
    ]
    assert token.redemption(1)[0] == shop and token.redemption(1)[2] == 200
    assert token.balance_of(shop) == 250
    assert token.total_redeemed() == 200 and token.total_supply() == 1800
    # A redemption for someone else's address, or more than the balance.
    not_mine = redeem_body(token.authorize_redemption(other_key, 100))
    assert code(api.request("POST", "/relay/redeem", "winkel", json=not_mine)) == (
        403,
        "not_your_wallet",
    )
    too_much = redeem_body(token.authorize_redemption(shop_key, 251))
    assert code(api.request("POST", "/relay/redeem", "winkel", json=too_much)) == (
        422,
        "insufficient_balance",
    )

    # The custodial endpoints have no key to sign with for winkel.
    assert code(
        api.request("POST", "/payments", "winkel", json={"to": "anna", "amount": "1.00"})
    ) == (409, "no_custodial_wallet")
    assert code(api.request("POST", "/redemptions", "winkel", json={"amount": "1.00"})) == (
        409,
        "no_custodial_wallet",
    )
    assert code(
        api.request("POST", "/accounts/winkel/rotate-key", "admin", json={"reason": "lost_key"})
    ) == (409, "no_custodial_wallet")
    assert (token.balance_of(anna), token.balance_of(shop)) == (1550, 250)
    assert token.redemption_count() == 1

    # The mirror sees winkel like any shop.
    wallet = api.wallet_synced("winkel")
    assert (wallet["address"], wallet["balance"]) == (shop, "2.50")
    history = api.request("GET", "/wallet/history", "winkel").json()
    assert sorted((h["kind"], h["amount"], h["counterparty"]) for h in history) == sorted(
        [("received", "6.00", "anna"), ("sent", "1.50", "anna"), ("redemption", "2.00", None)]
    )

    # EIP-2612 permit beside EIP-3009: winkel signs, a service key submits and pays the gas.
    spender = api.addresses["kapper"]
    nonce = int(token.contract.functions.nonces(shop).call())
    assert nonce == 0
    deadline = int(time.time()) + 3600
    permit = encode_typed_data(
        domain_data={
            "name": "Heitje",
            "version": "1",
            "chainId": token.chain_id,
            "verifyingContract": token.address,
        },
        message_types={
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        message_data={
            "owner": shop,
            "spender": spender,
            "value": 125,
            "nonce": nonce,
            "deadline": deadline,
        },
    )
    sig = shop_key.sign_message(permit)
    args = (
        shop,
        spender,
        125,
        deadline,
        sig.v,
        int(sig.r).to_bytes(32, "big"),
        int(sig.s).to_bytes(32, "big"),
    )
    payer = Signer(
        w3, service_key(stack.data_dir / "keys", "relayer"), stack.data_dir / "nonces.sqlite"
    )
    tx = {
        "to": token.address,
        "data": token.contract.functions.permit(*args)._encode_transaction_data(),
    }
    assert int(token.contract.functions.allowance(shop, spender).call()) == 0
    receipt = payer.transact(tx)
    assert receipt["from"] == payer.address != shop
    assert int(token.contract.functions.allowance(shop, spender).call()) == 125
    assert int(token.contract.functions.nonces(shop).call()) == 1
    # The same permit cannot be used twice (its nonce is spent).
    with pytest.raises(ChainError):
        payer.transact(tx)
    assert w3.eth.get_balance(shop) == 0
    # Balances untouched by the permit.
    assert (token.balance_of(anna), token.balance_of(shop)) == (1550, 250)
    api.check_responses()
