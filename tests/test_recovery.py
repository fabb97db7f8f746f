"""Recovery and own wallets over real HTTP on a real anvil chain (issue 3, points 4 and 6).

- Key rotation (admins): `recoverAccount` moves the whole balance and the citizen's rewards in
  the current period to a fresh custodial key; the old address is deregistered; the person keeps
  username and password and pays from the new address.
- Erasure (GDPR): the balance moves to a pseudonymous account (reason erasure request), or the
  address is deregistered and the key deleted; nothing personal stays in service.sqlite.
- A shop with its own Ethereum wallet: proves the address at sign-up (EIP-191), takes payments,
  refunds and redeems by signing with its own key (relayed, the service pays gas); EIP-2612
  `permit` is on the token.

All tests share one stack (`module_stack`) and check one behaviour each. Everyone a test
signs up has a fresh name; the `crew` (staff, a citizen holding 10.50 and a shop) is signed up
once and only refused things or paid into (its balances are compared as differences). Chain
totals, recovery events and redemption ids are compared over the test's own blocks. Amounts in
base units (1 HEIT = 100), worked out by hand from the rules: citizens pay shops, shops refund
citizens, only shops redeem.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3.logs import DISCARD
from web3.types import BlockIdentifier, TxParams

from domain.accounts import wallet_claim
from domain.settlement import read_pain001, run_settlement
from heitje.errors import ChainError
from indexer.mirror import Mirror
from node.contract import AccountKind
from node.keys import service_key
from node.signer import Signer
from node.token import Authorization, RecoveryReason
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.conftest import fresh

ZERO = "0x0000000000000000000000000000000000000000"


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


def head(stack: Stack) -> int:
    return int(stack.token.w3.eth.block_number)


def recovered_events(
    stack: Stack, since: int, until: BlockIdentifier = "latest"
) -> list[dict[str, Any]]:
    """Every AccountRecovered event from block `since` to `until`: from, to, amount, reason."""
    logs = stack.token.contract.events.AccountRecovered().get_logs(from_block=since, to_block=until)
    return [dict(ev["args"]) for ev in logs]


def rewards_in_period(stack: Stack, citizen: str, block: BlockIdentifier = "latest") -> int:
    """What `citizen` was rewarded in the current period, as of `block`."""
    fn = stack.token.contract.functions.rewardsInCurrentPeriod(citizen)
    return int(fn.call(block_identifier=block))


def transfers_in(stack: Stack, tx_hash: str) -> list[tuple[str, str, int]]:
    """(from, to, value) of the ERC-20 Transfer events in a transaction."""
    receipt = stack.token.w3.eth.get_transaction_receipt(HexStr(tx_hash))
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


def relay_body(auth: Authorization, refund_of: list[int] | None = None) -> dict[str, Any]:
    """The JSON body of POST /relay/transfer for a signed TransferWithAuthorization (a refund
    of the payments `refund_of`)."""
    frm, to, value, after, before, nonce, v, r, s = auth.args
    return {
        "refund_of": refund_of,
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


def _wait_mirror(stack: Stack, block: int) -> None:
    with Mirror(stack.data_dir / "mirror.sqlite") as mirror:
        mirror.wait_until(block, timeout=30)


def _settle(stack: Stack, through_block: int) -> dict[str, Any] | None:
    """`run_settlement` through `through_block` once the mirror has it (the finance officer's
    run, anchored on chain)."""
    _wait_mirror(stack, through_block)
    return run_settlement(
        stack.data_dir,
        through=None,
        through_block=through_block,
        name="Gemeente Test",
        iban="NL91ABNA0417164300",
        bic=None,
        eur_per_heitje="1.00",
        now=datetime.now(UTC),
        rpc_url=stack.rpc_url,
    )


# ----- who is who on the module's stack -----


@dataclass
class Crew:
    """Signed up once for the module: a coordinator, an auditor, a registered citizen `cit`
    holding 10.50 (never spent) and a registered custodial shop `shop` (paid into only)."""

    api: Api
    coco: str
    audrey: str
    cit: str
    shop: str


@pytest.fixture(scope="module")
def crew(module_stack: Stack) -> Iterator[Crew]:
    c = Crew(Api(module_stack), fresh("coco"), fresh("audrey"), fresh("cit"), fresh("kapper"))
    api = c.api
    api.staff(c.coco, "coordinator")
    api.staff(c.audrey, "auditor")
    api.coordinator, api.auditor = c.coco, c.audrey
    api.citizen(c.cit)
    api.shop(c.shop, IBAN_KAPPER)
    api.wait_registered(c.cit, c.shop)
    api.reward(fresh("crew-"), "10.50", c.cit)
    assert api.chain_balance(c.cit) == 1050
    yield c
    api.check_responses()
    api.close()


def client(stack: Stack, crew: Crew) -> Api:
    return Api(stack, coordinator=crew.coco, auditor=crew.audrey, known=crew.api)


@pytest.fixture
def api(module_stack: Stack, crew: Crew) -> Iterator[Api]:
    c = client(module_stack, crew)
    try:
        yield c
    finally:
        c.close()


# ----- key rotation -----


def test_only_admins_rotate_and_only_custodial_wallets(
    api: Api, crew: Crew, module_stack: Stack
) -> None:
    token = module_stack.token
    cit, coco = crew.cit, crew.coco
    body = {"reason": "lost_key"}
    assert code(api.request("POST", f"/accounts/{cit}/rotate-key", cit, json=body)) == (
        403,
        "forbidden",
    )
    assert code(api.request("POST", f"/accounts/{cit}/rotate-key", coco, json=body)) == (
        403,
        "forbidden",
    )
    assert code(api.request("POST", f"/accounts/{cit}/rotate-key", json=body)) == (
        401,
        "unauthorized",
    )
    assert code(api.request("POST", "/accounts/nobody/rotate-key", "admin", json=body)) == (
        404,
        "unknown_account",
    )
    assert code(api.request("POST", f"/accounts/{coco}/rotate-key", "admin", json=body)) == (
        409,
        "no_custodial_wallet",
    )
    assert code(
        api.request("POST", f"/accounts/{cit}/rotate-key", "admin", json={"reason": "whim"})
    ) == (422, "invalid_request")
    assert token.balance_of(api.addresses[cit]) == 1050  # nothing moved
    api.check_responses()


@dataclass
class Rotation:
    """A citizen rewarded 15.00 who paid a shop 4.50 (anna 10.50, bakker 4.50), then had the
    key rotated for a lost key: the answer, both addresses, and the rotation's blocks."""

    api: Api
    anna: str
    bakker: str
    anna_old: str
    anna_new: str
    bakker_old: str
    answer: dict[str, Any]
    supply: int
    since: int
    block: int


@pytest.fixture(scope="module")
def rotation(module_stack: Stack, crew: Crew) -> Iterator[Rotation]:
    stack = module_stack
    token = stack.token
    api = client(stack, crew)
    anna, bakker = fresh("anna"), fresh("bakker")
    api.citizen(anna)
    api.shop(bakker, IBAN_BAKKER)
    api.wait_registered(anna, bakker)
    anna_old, bakker_old = api.addresses[anna], api.addresses[bakker]

    # Reward 15.00, pay 4.50: anna 10.50, bakker 4.50; anna earned 15.00 this period.
    api.reward(fresh("t-"), "15.00", anna)
    r = api.request("POST", "/payments", anna, json={"to": bakker, "amount": "4.50"})
    assert r.status_code == 201, r.text
    assert (token.balance_of(anna_old), token.balance_of(bakker_old)) == (1050, 450)
    assert token.rewards_in_current_period(anna_old) == 1500

    supply, since = token.total_supply(), head(stack) + 1
    r = api.request("POST", f"/accounts/{anna}/rotate-key", "admin", json={"reason": "lost_key"})
    assert r.status_code == 200, r.text
    api.addresses[anna] = r.json()["address"]
    yield Rotation(
        api, anna, bakker, anna_old, r.json()["address"], bakker_old, r.json(),
        supply, since, head(stack),
    )  # fmt: skip
    api.check_responses()
    api.close()


def test_rotation_moves_balance_and_period_rewards_to_a_new_key(
    rotation: Rotation, module_stack: Stack
) -> None:
    stack, rot = module_stack, rotation
    token = stack.token
    anna_old, anna_new, block = rot.anna_old, rot.anna_new, rot.block
    assert rot.answer == {
        "username": rot.anna,
        "role": "citizen",
        "name": f"{rot.anna.title()} Jansen",
        "address": anna_new,
        "registered": True,
    }
    assert anna_new != anna_old and anna_new.startswith("0x") and len(anna_new) == 42

    # On chain right after the rotation: the old address is empty and unregistered, the new
    # one holds everything.
    assert token.balance_of(anna_old, block) == 0
    assert token.account_kind(anna_old, block) == AccountKind.NONE
    assert token.balance_of(anna_new, block) == 1050
    assert token.account_kind(anna_new, block) == AccountKind.CITIZEN
    assert token.total_supply(block) == rot.supply  # nothing minted or burned
    # The period's rewards moved along, so the cap per citizen cannot be dodged.
    assert rewards_in_period(stack, anna_old, block) == 0
    assert rewards_in_period(stack, anna_new, block) == 1500
    assert recovered_events(stack, rot.since, block) == [
        {"from": anna_old, "to": anna_new, "amount": 1050, "reason": RecoveryReason.LOST_KEY}
    ]
    assert int(RecoveryReason.LOST_KEY) == 0
    # The custodial key row now holds the new address; no pending rotation is left.
    assert service_db_row(
        stack,
        "SELECT k.address FROM custodial_keys k JOIN users u ON u.id = k.user_id "
        "WHERE u.username = ?",
        rot.anna,
    ) == (anna_new,)
    assert service_db_row(stack, "SELECT COUNT(*) FROM key_rotations") == (0,)


def test_after_rotation_the_citizen_logs_in_and_pays_from_the_new_key(
    rotation: Rotation, crew: Crew, module_stack: Stack
) -> None:
    stack, rot = module_stack, rotation
    token = stack.token
    api = Api(stack, coordinator=crew.coco, auditor=crew.audrey, known=rot.api)
    anna, bakker, anna_old, anna_new = rot.anna, rot.bakker, rot.anna_old, rot.anna_new
    balance, paid = token.balance_of(anna_new), token.balance_of(rot.bakker_old)
    assert (balance, paid) == (1050, 450)  # as the rotation left them

    # Same username and password: a new login, and /auth/me shows the new address.
    api.tokens.pop(anna)
    me = api.request("GET", "/auth/me", anna).json()
    assert (me["address"], me["registered"]) == (anna_new, True)
    # anna pays bakker 2.00 from the new address: anna 8.50, bakker 6.50.
    r = api.request("POST", "/payments", anna, json={"to": bakker, "amount": "2.00"})
    assert r.status_code == 201, r.text
    assert transfers_in(stack, r.json()["tx_hash"]) == [(anna_new, rot.bakker_old, 200)]
    assert (token.balance_of(anna_new), token.balance_of(rot.bakker_old)) == (850, 650)
    # A new reward goes to the new address and counts on top of the moved 15.00: 20.00.
    api.reward(fresh("t-"), "5.00", anna)
    assert token.balance_of(anna_new) == 1350 and token.balance_of(anna_old) == 0
    assert token.rewards_in_current_period(anna_new) == 2000

    # The mirror, once caught up, shows the balance at the new address.
    wallet = api.wallet_synced(anna)
    assert (wallet["address"], wallet["balance"]) == (anna_new, "13.50")
    # History spans both addresses; the move between them is no payment and is not listed.
    history = api.request("GET", "/wallet/history", anna).json()
    seen = sorted((h["kind"], h["amount"], h["counterparty"]) for h in history)
    assert seen == sorted(
        [
            ("reward", "15.00", None),
            ("sent", "4.50", bakker),
            ("sent", "2.00", bakker),
            ("reward", "5.00", None),
        ]
    )
    # The old custodial address stays deregistered (no account kind, so it holds nothing).
    assert token.account_kind(anna_old) == AccountKind.NONE
    api.check_responses()
    api.close()


def test_a_shops_key_rotates_and_settlement_pays_both_addresses(
    api: Api, module_stack: Stack
) -> None:
    stack = module_stack
    token = stack.token
    supply = token.total_supply()
    anna, bakker = fresh("anna"), fresh("bakker")
    api.citizen(anna)
    api.shop(bakker, IBAN_BAKKER)
    api.wait_registered(anna, bakker)
    anna_addr, bakker_old = api.addresses[anna], api.addresses[bakker]
    # anna earns 15.00 and pays bakker 6.50: anna 8.50, bakker 6.50.
    api.reward(fresh("t-"), "15.00", anna)
    r = api.request("POST", "/payments", anna, json={"to": bakker, "amount": "6.50"})
    purchase = int(r.json()["id"])
    assert r.status_code == 201, r.text
    # Whatever other tests left to settle is settled first, so the run below is bakker's.
    _settle(stack, head(stack))
    count = token.redemption_count()

    # bakker redeems 1.00 before its rotation (from the old address): 5.50 left.
    r = api.request("POST", "/redemptions", bakker, json={"amount": "1.00"})
    assert r.status_code == 201 and r.json()["redemption_id"] == count + 1, r.text

    # A shop's custodial key can be rotated too (reason key_rotation, kind shop).
    since = head(stack) + 1
    r = api.request(
        "POST", f"/accounts/{bakker}/rotate-key", "admin", json={"reason": "key_rotation"}
    )
    assert r.status_code == 200, r.text
    bakker_new = r.json()["address"]
    assert bakker_new != bakker_old and r.json()["role"] == "shop"
    api.addresses[bakker] = bakker_new
    assert (token.balance_of(bakker_old), token.account_kind(bakker_old)) == (0, AccountKind.NONE)
    assert (token.balance_of(bakker_new), token.account_kind(bakker_new)) == (550, AccountKind.SHOP)
    assert recovered_events(stack, since) == [
        {
            "from": bakker_old,
            "to": bakker_new,
            "amount": 550,
            "reason": RecoveryReason.KEY_ROTATION,
        }
    ]
    # bakker refunds anna 0.50 and redeems 1.00 from the new address: anna 9.00, bakker 4.00.
    refund = {"to": anna, "amount": "0.50", "refund_of": [purchase]}
    r = api.request("POST", "/payments", bakker, json=refund)
    assert r.status_code == 201, r.text
    assert transfers_in(stack, r.json()["tx_hash"]) == [(bakker_new, anna_addr, 50)]
    r = api.request("POST", "/redemptions", bakker, json={"amount": "1.00"})
    assert r.status_code == 201, r.text
    assert r.json()["redemption_id"] == count + 2
    assert token.redemption(count + 1)[0] == bakker_old
    assert token.redemption(count + 2)[0] == bakker_new
    assert (token.balance_of(anna_addr), token.balance_of(bakker_new)) == (900, 400)
    # 15.00 minted - 2 x 1.00 redeemed in this test = 13.00 more in circulation.
    assert token.total_supply() == supply + 1300 == token.total_minted() - token.total_redeemed()
    # The old custodial address stays deregistered (no account kind, so it holds nothing).
    assert token.account_kind(bakker_old) == AccountKind.NONE

    assert api.wallet_synced(bakker)["balance"] == "4.00"
    accounts = api.request("GET", "/audit/accounts", api.auditor).json()
    assert {
        (a["username"], a["address"], a["balance"])
        for a in accounts
        if a["username"] in (anna, bakker)
    } == {
        (anna, anna_addr, "9.00"),
        (bakker, bakker_new, "4.00"),
    }
    # Settlement pays both redemptions to bakker's IBAN, from the old and the new address.
    result = _settle(stack, head(stack))
    assert result is not None and result["total_cents"] == 200
    paid = read_pain001(stack.data_dir / result["xml_path"])
    assert sum(p.cents for p in paid) == 200
    assert {p.creditor_iban for p in paid} == {IBAN_BAKKER.replace(" ", "")}
    assert token.settlement_of(count + 1) == token.settlement_of(count + 2) != bytes(32)
    api.check_responses()


# ----- erasure -----


def sign_up_person(api: Api, username: str, name: str, neighbourhood: str) -> None:
    """A citizen whose personal data is distinctive, so a search for it hits nothing else."""
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


def test_only_admins_erase_and_only_citizens(api: Api, crew: Crew) -> None:
    cit, coco = crew.cit, crew.coco
    assert code(api.request("DELETE", f"/citizens/{cit}", cit)) == (403, "forbidden")
    assert code(api.request("DELETE", f"/citizens/{cit}", coco)) == (403, "forbidden")
    assert code(api.request("DELETE", "/citizens/nobody", "admin")) == (404, "unknown_account")
    assert code(api.request("DELETE", f"/citizens/{crew.shop}", "admin")) == (
        409,
        "not_a_citizen",
    )
    assert code(api.request("DELETE", f"/citizens/{coco}", "admin")) == (409, "not_a_citizen")
    api.check_responses()


def test_erasure_moves_the_coins_to_a_pseudonymous_account_and_forgets_the_person(
    api: Api, crew: Crew, module_stack: Stack
) -> None:
    stack = module_stack
    token = stack.token
    greta, name, neighbourhood = fresh("gretazw"), "Margaretha Zwanenburg", "Caumerveld-Oost"
    sign_up_person(api, greta, name, neighbourhood)
    api.wait_registered(greta)
    greta_old, greta_id = api.addresses[greta], user_id(stack, greta)
    shop = api.addresses[crew.shop]
    # greta: 12.00 reward, pays the shop 2.00: 10.00 left.
    api.reward(fresh("g-"), "12.00", greta)
    r = api.request("POST", "/payments", greta, json={"to": crew.shop, "amount": "2.00"})
    assert r.status_code == 201, r.text
    assert token.balance_of(greta_old) == 1000
    greta_token = api.token(greta)
    supply, shop_balance, since = token.total_supply(), token.balance_of(shop), head(stack) + 1

    # Erase greta (balance 10.00).
    r = api.request("DELETE", f"/citizens/{greta}", "admin")
    assert r.status_code == 204 and r.content == b""
    # She can no longer log in, and her session is gone.
    r = api.request(
        "POST", "/auth/token", json={"username": greta, "password": api.passwords[greta]}
    )
    assert code(r) == (401, "invalid_credentials")
    r = api.request("GET", "/auth/me", headers={"Authorization": f"Bearer {greta_token}"})
    assert code(r) == (401, "unauthorized")
    assert code(api.request("DELETE", f"/citizens/{greta}", "admin")) == (404, "unknown_account")
    # The coins sit at a new pseudonymous citizen account (reason erasure request, 1).
    events = recovered_events(stack, since)
    assert len(events) == 1
    greta_new = events[0]["to"]
    assert events[0] == {
        "from": greta_old,
        "to": greta_new,
        "amount": 1000,
        "reason": RecoveryReason.ERASURE_REQUEST,
    }
    assert int(RecoveryReason.ERASURE_REQUEST) == 1
    assert greta_new != greta_old
    assert (token.balance_of(greta_old), token.account_kind(greta_old)) == (0, AccountKind.NONE)
    assert (token.balance_of(greta_new), token.account_kind(greta_new)) == (
        1000,
        AccountKind.CITIZEN,
    )
    assert token.rewards_in_current_period(greta_new) == 1200
    assert token.total_supply() == supply  # nothing minted or burned
    # The service keeps the key of the pseudonymous account (the coins stay reachable).
    assert service_db_row(
        stack, "SELECT address FROM custodial_keys WHERE user_id = ?", greta_id
    ) == (greta_new,)
    assert service_db_row(stack, "SELECT address FROM users WHERE id = ?", greta_id) == (greta_new,)
    assert service_db_row(stack, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", greta_id) == (
        0,
    )

    # The staff log names the admin and the account's number, never the person (issue 11).
    assert service_db_row(
        stack,
        "SELECT actor, action FROM staff_log WHERE subject = ?",
        f"account {greta_id}",
    ) == ("admin", "citizen.erase")
    # Nothing personal remains: neither in service.sqlite (every table and column, WAL
    # checkpointed) nor in the mirror (which never held any).
    needles = [greta, name, neighbourhood]
    assert personal_data_hits(stack.data_dir / "service.sqlite", needles) == []
    assert personal_data_hits(stack.data_dir / "mirror.sqlite", needles) == []
    # The other accounts are untouched; the shop list never showed citizens.
    listed = {s["username"] for s in api.request("GET", "/shops").json()}
    assert listed & {greta, crew.shop} == {crew.shop}
    assert token.balance_of(shop) == shop_balance
    api.check_responses()


def test_erasure_without_coins_deregisters_and_keeps_no_key(api: Api, module_stack: Stack) -> None:
    stack = module_stack
    token = stack.token
    hugo, name, neighbourhood = fresh("hugovb"), "Hugo Vermeulen-Brand", "Passart-Zuid"
    sign_up_person(api, hugo, name, neighbourhood)
    api.wait_registered(hugo)
    hugo_old, hugo_id = api.addresses[hugo], user_id(stack, hugo)
    assert token.balance_of(hugo_old) == 0
    api.token(hugo)  # a live session
    since = head(stack) + 1

    # Erase hugo (no balance): deregistered, no key kept, no address kept.
    r = api.request("DELETE", f"/citizens/{hugo}", "admin")
    assert r.status_code == 204, r.text
    r = api.request("POST", "/auth/token", json={"username": hugo, "password": api.passwords[hugo]})
    assert code(r) == (401, "invalid_credentials")
    assert token.account_kind(hugo_old) == AccountKind.NONE
    assert len(recovered_events(stack, since)) == 0  # nothing to move, nothing recovered
    assert service_db_row(stack, "SELECT 1 FROM custodial_keys WHERE user_id = ?", hugo_id) is None
    assert service_db_row(stack, "SELECT address FROM users WHERE id = ?", hugo_id) == (None,)
    assert service_db_row(stack, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", hugo_id) == (0,)
    # Nothing personal remains, in service.sqlite or the mirror.
    needles = [hugo, name, neighbourhood]
    assert personal_data_hits(stack.data_dir / "service.sqlite", needles) == []
    assert personal_data_hits(stack.data_dir / "mirror.sqlite", needles) == []
    api.check_responses()


def test_an_account_named_like_an_erased_one_cannot_block_an_erasure(
    api: Api, module_stack: Stack
) -> None:
    """The defect: erasure renamed the account to `erased-<id>`; anyone could sign up as
    `ERASED-<id>` first (usernames are compared without case), and the erasure then failed
    (500, UNIQUE users.username_key) after the coins had moved on chain, keeping the person's
    data. Now the erased name is `#erased-<id>`, which no sign-up can take."""
    stack = module_stack
    token = stack.token
    ida, name, neighbourhood = fresh("idavdl"), "Ida van der Lelie", "Mariarade-Noord"
    sign_up_person(api, ida, name, neighbourhood)
    api.wait_registered(ida)
    ida_old, ida_id = api.addresses[ida], user_id(stack, ida)
    api.reward(fresh("i-"), "3.00", ida)
    assert token.balance_of(ida_old) == 300
    squatters = [f"ERASED-{ida_id}", f"Erased-{ida_id + 1}"]  # her id and the next one's
    for squatter in squatters:
        api.citizen(squatter)
    # Nobody can take an erased account's name itself.
    for taken in (f"#erased-{ida_id}", f"#ERASED-{ida_id}"):
        r = api.request(
            "POST",
            "/citizens",
            json={"username": taken, "password": "long-enough-1", "name": "Squatter"},
        )
        assert code(r) == (422, "invalid_request"), taken
    since = head(stack) + 1

    r = api.request("DELETE", f"/citizens/{ida}", "admin")
    assert r.status_code == 204, r.text
    # The whole erasure happened: the 3.00 moved to a pseudonymous account, and the person
    # is gone from service.sqlite.
    events = recovered_events(stack, since)
    assert [(e["from"], e["amount"], e["reason"]) for e in events] == [
        (ida_old, 300, RecoveryReason.ERASURE_REQUEST)
    ]
    assert token.balance_of(events[0]["to"]) == 300
    assert service_db_row(
        stack, "SELECT username, username_key, name FROM users WHERE id = ?", ida_id
    ) == (f"#erased-{ida_id}", f"#erased-{ida_id}", "")
    assert personal_data_hits(stack.data_dir / "service.sqlite", [ida, name, neighbourhood]) == []
    # The squatters are ordinary accounts, untouched.
    for squatter in squatters:
        r = api.request(
            "POST",
            "/auth/token",
            json={"username": squatter, "password": api.passwords[squatter]},
        )
        assert r.status_code == 200, r.text
    api.check_responses()


# ----- a shop with its own wallet -----


def sign_claim(key: LocalAccount, address: str, username: str) -> str:
    signed = key.sign_message(encode_defunct(text=wallet_claim(address, username)))
    return "0x" + bytes(signed.signature).hex()


def own_wallet_shop(api: Api) -> tuple[str, LocalAccount]:
    """A shop signed up with its own key (registered on chain); (username, key)."""
    key: LocalAccount = Account.create()
    username = fresh("winkel")
    password = f"{username}-password"
    r = api.request(
        "POST",
        "/shops",
        json={
            "username": username,
            "password": password,
            "name": "Winkel Eigen",
            "category": "food",
            "iban": IBAN_BAKKER,
            "address": key.address,
            "signature": sign_claim(key, key.address, username),
        },
    )
    assert r.status_code == 201, r.text
    api.passwords[username] = password
    api.addresses[username] = key.address
    api.approve_shop(username)
    api.wait_registered(username)
    return username, key


def test_an_own_wallet_shop_proves_its_address_at_sign_up(api: Api, module_stack: Stack) -> None:
    stack = module_stack
    shop_key: LocalAccount = Account.create()
    other_key: LocalAccount = Account.create()
    shop = shop_key.address
    winkel = fresh("winkel")

    def sign_up(address: str, signature: str) -> httpx.Response:
        return api.request(
            "POST",
            "/shops",
            json={
                "username": winkel,
                "password": "winkel-password-1",
                "name": "Winkel Eigen",
                "category": "food",
                "iban": IBAN_BAKKER,
                "address": address,
                "signature": signature,
            },
        )

    # Wrong signatures: by another key, by the right key over another username, half a claim.
    assert code(sign_up(shop, sign_claim(other_key, shop, winkel))) == (
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
                "username": winkel,
                "password": "winkel-password-1",
                "name": "Winkel Eigen",
                "iban": IBAN_BAKKER,
                "address": shop,
            },
        )
    ) == (422, "invalid_signature")
    # The right one.
    r = sign_up(shop.lower(), sign_claim(shop_key, shop, winkel))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body.pop("access_token")  # a sign-up answers with a session (test_signup_session)
    assert (body.pop("token_type"), body.pop("expires_in") > 0) == ("bearer", True)
    assert body == {
        "username": winkel,
        "role": "shop",
        "name": "Winkel Eigen",
        "address": shop,
        "registered": False,
    }
    api.passwords[winkel] = "winkel-password-1"
    api.addresses[winkel] = shop
    assert service_db_row(
        stack,
        "SELECT COUNT(*) FROM custodial_keys k JOIN users u ON u.id = k.user_id "
        "WHERE u.username = ?",
        winkel,
    ) == (0,)
    # The same wallet cannot be claimed twice.
    winkel2 = fresh("winkel")
    r = api.request(
        "POST",
        "/shops",
        json={
            "username": winkel2,
            "password": "winkel-password-2",
            "name": "Winkel Twee",
            "iban": IBAN_BAKKER,
            "address": shop,
            "signature": sign_claim(shop_key, shop, winkel2),
        },
    )
    assert code(r) == (409, "address_taken")
    api.approve_shop(winkel)
    api.wait_registered(winkel)
    assert stack.token.account_kind(shop) == AccountKind.SHOP
    api.check_responses()


def test_an_own_wallet_shop_refunds_by_a_relayed_signature(
    api: Api, crew: Crew, module_stack: Stack
) -> None:
    stack = module_stack
    token = stack.token
    other_key: LocalAccount = Account.create()
    anna = fresh("anna")
    api.citizen(anna)
    winkel, shop_key = own_wallet_shop(api)
    api.wait_registered(anna)
    anna_addr, shop = api.addresses[anna], shop_key.address

    # anna earns 20.00 and pays winkel 6.00 (custodial payer, own-wallet payee).
    api.reward(fresh("t-"), "20.00", anna)
    r = api.request("POST", "/payments", anna, json={"to": winkel, "amount": "6.00"})
    assert r.status_code == 201, r.text
    paid = [int(r.json()["id"])]
    assert (token.balance_of(anna_addr), token.balance_of(shop)) == (1400, 600)

    # winkel refunds anna 1.50 of that payment, signed by its own key and relayed: anna 15.50,
    # winkel 4.50.
    refund = token.authorize_transfer(shop_key, anna_addr, 150)
    body = relay_body(refund, paid)
    r = api.request("POST", "/relay/transfer", winkel, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["redemption_id"] is None
    assert transfers_in(stack, r.json()["tx_hash"]) == [(shop, anna_addr, 150)]
    assert (token.balance_of(anna_addr), token.balance_of(shop)) == (1550, 450)
    # The shop never paid gas: its own address holds no ether.
    assert token.w3.eth.get_balance(shop) == 0
    # Replayed: refused, nothing moves.
    assert code(api.request("POST", "/relay/transfer", winkel, json=body)) == (
        422,
        "authorization_used",
    )
    # Signed by another key for winkel's address.
    forged = relay_body(token.authorize_transfer(other_key, anna_addr, 100), paid)
    forged["from"] = shop
    assert code(api.request("POST", "/relay/transfer", winkel, json=forged)) == (
        422,
        "invalid_signature",
    )
    # A payer that is not winkel's address (even correctly signed by that address).
    not_mine = relay_body(token.authorize_transfer(other_key, anna_addr, 100), paid)
    assert code(api.request("POST", "/relay/transfer", winkel, json=not_mine)) == (
        403,
        "not_your_wallet",
    )
    not_mine["from"] = anna_addr
    assert code(api.request("POST", "/relay/transfer", winkel, json=not_mine)) == (
        403,
        "not_your_wallet",
    )
    # Shops refund citizens only: a transfer to another shop is refused by the token.
    to_shop = relay_body(token.authorize_transfer(shop_key, api.addresses[crew.shop], 100), paid)
    assert code(api.request("POST", "/relay/transfer", winkel, json=to_shop)) == (
        422,
        "transfer_not_allowed",
    )
    # Not a shop: a citizen cannot use the relay, with winkel's signature or its own address.
    assert code(api.request("POST", "/relay/transfer", anna, json=to_shop)) == (
        403,
        "forbidden",
    )
    assert code(api.request("POST", "/relay/redeem", anna, json={})) == (403, "forbidden")
    assert (token.balance_of(anna_addr), token.balance_of(shop)) == (1550, 450)
    api.check_responses()


def test_an_own_wallet_shop_redeems_by_a_relayed_signature(api: Api, module_stack: Stack) -> None:
    stack = module_stack
    token = stack.token
    other_key: LocalAccount = Account.create()
    anna = fresh("anna")
    api.citizen(anna)
    winkel, shop_key = own_wallet_shop(api)
    api.wait_registered(anna)
    anna_addr, shop = api.addresses[anna], shop_key.address
    # anna earns 20.00 and pays winkel 6.00; winkel refunds 1.50 by relay: winkel 4.50.
    api.reward(fresh("t-"), "20.00", anna)
    r = api.request("POST", "/payments", anna, json={"to": winkel, "amount": "6.00"})
    assert r.status_code == 201, r.text
    refund = relay_body(token.authorize_transfer(shop_key, anna_addr, 150), [int(r.json()["id"])])
    assert api.request("POST", "/relay/transfer", winkel, json=refund).status_code == 201
    count, redeemed, supply = (
        token.redemption_count(),
        token.total_redeemed(),
        token.total_supply(),
    )

    # Redeem 2.00 by relay: burned under the next redemption id; winkel 2.50, 2.00 less supply.
    r = api.request(
        "POST",
        "/relay/redeem",
        winkel,
        json=redeem_body(token.authorize_redemption(shop_key, 200)),
    )
    assert r.status_code == 201, r.text
    assert r.json()["redemption_id"] == count + 1
    assert transfers_in(stack, r.json()["tx_hash"]) == [(shop, ZERO, 200)]
    assert token.redemption(count + 1)[0] == shop and token.redemption(count + 1)[2] == 200
    assert token.balance_of(shop) == 250
    assert token.total_redeemed() == redeemed + 200 and token.total_supply() == supply - 200
    # A redemption for someone else's address, or more than the balance.
    not_mine = redeem_body(token.authorize_redemption(other_key, 100))
    assert code(api.request("POST", "/relay/redeem", winkel, json=not_mine)) == (
        403,
        "not_your_wallet",
    )
    too_much = redeem_body(token.authorize_redemption(shop_key, 251))
    assert code(api.request("POST", "/relay/redeem", winkel, json=too_much)) == (
        422,
        "insufficient_balance",
    )
    assert token.redemption_count() == count + 1

    # The mirror sees winkel like any shop.
    wallet = api.wallet_synced(winkel)
    assert (wallet["address"], wallet["balance"]) == (shop, "2.50")
    history = api.request("GET", "/wallet/history", winkel).json()
    assert sorted((h["kind"], h["amount"], h["counterparty"]) for h in history) == sorted(
        [("received", "6.00", anna), ("sent", "1.50", anna), ("redemption", "2.00", None)]
    )
    api.check_responses()


def test_an_own_wallet_shop_has_no_custodial_key_to_sign_with(
    api: Api, crew: Crew, module_stack: Stack
) -> None:
    token = module_stack.token
    winkel, shop_key = own_wallet_shop(api)
    cit, shop = api.addresses[crew.cit], shop_key.address
    count = token.redemption_count()
    balances = (token.balance_of(cit), token.balance_of(shop))
    assert code(
        api.request("POST", "/payments", winkel, json={"to": crew.cit, "amount": "1.00"})
    ) == (409, "no_custodial_wallet")
    assert code(api.request("POST", "/redemptions", winkel, json={"amount": "1.00"})) == (
        409,
        "no_custodial_wallet",
    )
    assert code(
        api.request("POST", f"/accounts/{winkel}/rotate-key", "admin", json={"reason": "lost_key"})
    ) == (409, "no_custodial_wallet")
    assert (token.balance_of(cit), token.balance_of(shop)) == balances == (1050, 0)
    assert token.redemption_count() == count
    api.check_responses()


def test_an_own_wallet_shop_signs_an_eip_2612_permit(
    api: Api, crew: Crew, module_stack: Stack
) -> None:
    stack = module_stack
    token = stack.token
    w3 = token.w3
    _, shop_key = own_wallet_shop(api)
    shop, spender = shop_key.address, api.addresses[crew.shop]
    balances = (token.balance_of(shop), token.balance_of(spender))

    # EIP-2612 permit beside EIP-3009: winkel signs, a service key submits and pays the gas.
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
    tx = cast(
        TxParams,
        {
            "to": token.address,
            "data": token.contract.functions.permit(*args)._encode_transaction_data(),
        },
    )
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
    assert (token.balance_of(shop), token.balance_of(spender)) == balances
    api.check_responses()
