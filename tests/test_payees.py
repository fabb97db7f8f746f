"""Settlement that pays everyone it can (issue 9, item 5), against a real anvil, API, indexer
and the real `heitje` command:

- sign-up checks the payee as a SEPA transfer will carry it (IBAN, BIC with schwifty, the name
  in the EPC basic Latin set);
- one bad payee (data made bad before those checks) is held and listed, the rest are paid, and
  paid once it is fixed;
- `heitje settle` checks the manifest and the chain before writing anything (exit 2, one line
  naming the RPC URL); an anchoring that fails after the file is written exits 3 naming the
  file and the command that retries it, and that command works.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from heitje.datadir import DataDir
from indexer.mirror import Mirror
from node.keys import service_key
from node.signer import Signer
from node.token import batch_id_bytes
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.conftest import fresh, run_heitje

COORDINATOR = "payee-coco"
MUNICIPALITY = ("--municipality-name", "Gemeente Test", "--municipality-iban", "NL91ABNA0417164300")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, refused at once


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    client = Api(module_stack, coordinator=COORDINATOR)
    client.staff(COORDINATOR, "coordinator")
    yield client
    client.close()


def sign_up(api: Api, name: str, iban: str, bic: str | None) -> tuple[int, dict[str, str]]:
    body = {
        "username": fresh("winkel"),
        "password": "winkel-password",
        "name": name,
        "category": "bakery",
        "iban": iban,
    }
    if bic is not None:
        body["bic"] = bic
    r = api.request("POST", "/shops", json=body)
    return r.status_code, r.json()


def service_rows(stack: Stack, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(stack.paths.service_db, timeout=30)
    try:
        with conn:
            return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def settle(
    stack: Stack, data_dir: Path, block: int, rpc_url: str
) -> subprocess.CompletedProcess[str]:
    return run_heitje(
        "settle",
        "--data-dir",
        str(data_dir),
        "--rpc-url",
        rpc_url,
        "--through-block",
        str(block),
        *MUNICIPALITY,
        timeout=120,
    )


def redeemed(api: Api, stack: Stack, amount: str) -> tuple[str, int]:
    """A fresh approved shop paid `amount` HEIT by a fresh citizen, all of it redeemed; its
    username and the redemption's block, once the mirror holds it."""
    citizen, shop = fresh("cit"), fresh("shop")
    api.citizen(citizen)
    api.shop(shop, IBAN_KAPPER)
    api.wait_registered(citizen, shop)
    api.reward(fresh("t-"), amount, citizen)
    r = api.request("POST", "/payments", citizen, json={"to": shop, "amount": amount})
    assert r.status_code == 201, r.text
    r = api.request("POST", "/redemptions", shop, json={"amount": amount})
    assert r.status_code == 201, r.text
    block = int(r.json()["block_number"])
    with Mirror(stack.data_dir / "mirror.sqlite") as mirror:
        mirror.wait_until(block, timeout=30)
    return shop, block


def ledger_count(data_dir: Path) -> int:
    conn = sqlite3.connect(DataDir(data_dir).service_db, timeout=30)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "settlement_batches" not in tables:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM settlement_batches").fetchone()[0])
    finally:
        conn.close()


def xml_files(data_dir: Path) -> list[str]:
    folder = DataDir(data_dir).settlements
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- sign-up ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "iban", "bic", "code"),
    [
        ("Bakkerij", IBAN_BAKKER, "12345678", "invalid_bic"),  # not a BIC at all
        ("Bakkerij", IBAN_BAKKER, "ABCDEFGH", "invalid_bic"),  # country "EF" does not exist
        ("Bakkerij", IBAN_BAKKER, "INGBNL2A", "bic_mismatch"),  # ING's BIC, ABN AMRO's IBAN
        ("\U0001f370\U0001f370\U0001f370", IBAN_BAKKER, None, "invalid_payee_name"),
        ("???", IBAN_BAKKER, None, "invalid_payee_name"),
        ("Bakkerij", "NL91ABNA0417164301", None, "invalid_iban"),
    ],
    ids=["bic-digits", "bic-country", "bic-of-another-bank", "cake", "question-marks", "iban"],
)
def test_sign_up_refuses_a_payee_sepa_cannot_pay(
    api: Api, module_stack: Stack, name: str, iban: str, bic: str | None, code: str
) -> None:
    status, body = sign_up(api, name, iban, bic)
    assert (status, body["code"]) == (422, code), body
    assert service_rows(module_stack, "SELECT COUNT(*) FROM users WHERE name = ?", name) == [(0,)]


def test_sign_up_keeps_the_name_as_sepa_carries_it(api: Api, module_stack: Stack) -> None:
    status, body = sign_up(api, "Café Ørsted & Zoë 🍰", IBAN_BAKKER, "abnanl2a")
    assert status == 201, body
    assert service_rows(
        module_stack,
        "SELECT s.bic, s.sepa_name FROM shops s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = ?",
        body["username"],
    ) == [("ABNANL2A", "Cafe Orsted + Zoe")]


# --- settle: one bad payee held, the chain checked first, anchoring retried ----------------------


def test_one_bad_payee_is_held_and_listed_while_the_rest_are_paid(
    api: Api, module_stack: Stack
) -> None:
    stack = module_stack
    good, _ = redeemed(api, stack, "3.00")
    bad, block = redeemed(api, stack, "2.50")
    # Payee data made bad before the sign-up checks existed: a BIC that is no BIC.
    service_rows(
        stack,
        "UPDATE shops SET bic = '12345678' "
        "WHERE user_id = (SELECT id FROM users WHERE username = ?)",
        bad,
    )
    result = settle(stack, stack.data_dir, block, stack.rpc_url)
    assert result.returncode == 0, result.stderr
    batch = json.loads(result.stdout)
    assert [(p["shop_id"], p["cents"]) for p in batch["payments"] if p["shop_id"] == good] == [
        (good, 300)
    ]
    assert bad not in [p["shop_id"] for p in batch["payments"]]
    held = [h for h in batch["held"] if h["shop_id"] == bad]
    assert [(h["code"], h["heit"], len(h["redemption_ids"])) for h in held] == [
        ("invalid_bic", "2.50", 1)
    ]
    assert f"heitje: held {bad}: 2.50 HEIT" in result.stderr
    assert batch["anchored"] == [batch["batch_id"]]

    # Fixed (IBAN-only): the next run pays it, and only it.
    service_rows(
        stack,
        "UPDATE shops SET bic = NULL WHERE user_id = (SELECT id FROM users WHERE username = ?)",
        bad,
    )
    again = settle(stack, stack.data_dir, block, stack.rpc_url)
    assert again.returncode == 0, again.stderr
    paid = json.loads(again.stdout)
    assert [(p["shop_id"], p["cents"]) for p in paid["payments"]] == [(bad, 250)]
    assert [h for h in paid["held"] if h["shop_id"] == bad] == []
    assert stack.token.settlement(batch_id_bytes(paid["batch_id"])).recorded_at != 0


def test_settle_against_an_unreachable_chain_writes_nothing(api: Api, module_stack: Stack) -> None:
    stack = module_stack
    _, block = redeemed(api, stack, "1.25")
    files, batches = xml_files(stack.data_dir), ledger_count(stack.data_dir)
    result = settle(stack, stack.data_dir, block, UNREACHABLE)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and UNREACHABLE in lines[0], result.stderr
    assert "None" not in lines[0]
    assert result.stdout == ""
    assert (xml_files(stack.data_dir), ledger_count(stack.data_dir)) == (files, batches)


def _copy_data_dir(stack: Stack, to: Path) -> Path:
    """The stack's service database, mirror and keys, copied consistently (SQLite backup)."""
    paths = DataDir(to)
    to.mkdir()
    for src, dst in (
        (stack.paths.service_db, paths.service_db),
        (stack.paths.mirror_db, paths.mirror_db),
    ):
        source, target = sqlite3.connect(src, timeout=30), sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    shutil.copytree(stack.paths.keys, paths.keys)
    return to


@pytest.mark.parametrize(
    ("manifest", "word"),
    [
        ("{not json", "deployment.json"),
        (None, "no contract"),  # a manifest whose token address holds no code
        ("wrong-chain", "chain id"),
    ],
    ids=["corrupt", "no-contract", "wrong-chain"],
)
def test_settle_with_a_bad_manifest_writes_nothing(
    api: Api, module_stack: Stack, tmp_path: Path, manifest: str | None, word: str
) -> None:
    stack = module_stack
    _, block = redeemed(api, stack, "1.10")
    data = _copy_data_dir(stack, tmp_path / "data")
    real = json.loads(stack.paths.manifest.read_text())
    if manifest is None:
        real["token"] = "0x" + "00" * 19 + "42"
        text = json.dumps(real)
    elif manifest == "wrong-chain":
        real["chain_id"] = real["chain_id"] + 1
        text = json.dumps(real)
    else:
        text = manifest
    DataDir(data).manifest.write_text(text)
    batches = ledger_count(data)
    result = settle(stack, data, block, stack.rpc_url)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and stack.rpc_url in lines[0] and word in lines[0], result.stderr
    assert result.stdout == ""
    assert xml_files(data) == []
    assert ledger_count(data) == batches


def test_an_anchoring_that_fails_exits_3_naming_the_file_and_the_retry(
    api: Api, module_stack: Stack, tmp_path: Path
) -> None:
    stack = module_stack
    _, block = redeemed(api, stack, "4.20")
    pauser = Signer(stack.token.w3, service_key(stack.paths.keys, "pauser"), tmp_path / "n.sqlite")
    pauser.transact(stack.token.pause_tx())  # recordSettlement is refused while paused
    try:
        result = settle(stack, stack.data_dir, block, stack.rpc_url)
    finally:
        pauser.transact(stack.token.unpause_tx())
    assert result.returncode == 3, result.stderr
    batch = json.loads(result.stdout)  # the batch was written: it is reported
    xml = stack.data_dir / batch["xml_path"]
    assert xml.is_file()
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(xml) in lines[0] and "paused" in lines[0] and stack.rpc_url in lines[0]
    retry = lines[0].split("retry the anchoring with: ", 1)[1]
    assert retry == shlex.join(
        ["heitje", "anchor", "--data-dir", str(stack.data_dir), "--rpc-url", stack.rpc_url]
    )
    key = batch_id_bytes(batch["batch_id"])
    assert stack.token.settlement(key).recorded_at == 0

    again = run_heitje(*shlex.split(retry)[1:], timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"anchored": [batch["batch_id"]]}
    assert stack.token.settlement(key).recorded_at != 0
    # Nothing left: a second retry records nothing.
    assert json.loads(run_heitje(*shlex.split(retry)[1:]).stdout) == {"anchored": []}
