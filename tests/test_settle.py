"""Settlement: SEPA pain.001.001.03 files from the SQL mirror, the ledger, reconciliation.

Real SQLite files in tmp_path, created by their owners (the mirror by the indexer's writer, the
service database by `store.db`, the ledger by `store.ledger`), real sepaxml output checked
against the XSD sepaxml ships (with lxml and with sepaxml's own xmlschema check). Expected
amounts are worked out by hand.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
import sepaxml
from eth_account import Account
from eth_typing import ChecksumAddress
from lxml import etree
from web3 import Web3
from web3.types import RPCEndpoint

from domain.settlement import (
    AlreadySettled,
    AnchorFailed,
    FilePayment,
    InvalidLedger,
    MirrorBehind,
    Municipality,
    SettlementResult,
    ShopPayee,
    anchor,
    ledger_batches,
    read_pain001,
    reconcile_settlements,
    run_settlement,
    settle,
)
from domain.settlement.anchor import anchor_settlements, id_ranges, plan_parts
from heitje.datadir import DataDir
from heitje.errors import NotFound
from heitje.money import BaseUnits, EuroCents
from indexer.decoder import Block, Redeemed
from indexer.writer import Writer
from node.anvil import Anvil
from node.contract import AccountKind
from node.keys import service_key
from node.signer import Signer
from node.token import Token, batch_id_bytes, connect
from scripts.deploy import deploy, ensure_dev_keys
from store import accounts, db, ledger

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
XSD = etree.XMLSchema(
    etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"))
)
CEST = timezone(timedelta(hours=2))

SHOP_A = "0xA11CE00000000000000000000000000000000001"
SHOP_B = "0xB0B0000000000000000000000000000000000002"
SHOP_C = "0xCAFE000000000000000000000000000000000003"
UNKNOWN_SHOP = "0xDEAD000000000000000000000000000000000004"

PAYEES = {
    SHOP_A: ShopPayee(SHOP_A, "shop-1", "Boekhandel Leesteken", "NL90BUNQ8332073502", "BUNQNL2A"),
    SHOP_B: ShopPayee(SHOP_B, "shop-2", "Klusbedrijf Schaesberg", "NL39 ASNB 8190 0865 29", None),
    SHOP_C: ShopPayee(SHOP_C, "shop-3", "Kapsalon Knip & Kleur", "NL35RABO0351842772", "RABONL2U"),
}
MUNICIPALITY = Municipality("Gemeente Heerlen", "NL83BUNQ6678282507", "BUNQNL2A", "1.00")

# 2022-03-31T23:00:00+02:00 is 2022-03-31T21:00:00Z.
THROUGH = datetime(2022, 3, 31, 23, 0, 0, tzinfo=CEST)
T = int((THROUGH - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
CREATED = datetime(2022, 3, 31, 23, 30, 0, tzinfo=CEST)
EXECUTION = date(2022, 4, 1)

Row = tuple[int, str, int, int, int]  # redemption_id, shop, amount (base units), block, timestamp


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


def _block(number: int, timestamp: int) -> Block:
    return Block(number, f"0x{number:064x}", f"0x{max(number - 1, 0):064x}", timestamp)


def write_mirror(path: Path, rows: list[Row], checkpoint: int = 100) -> None:
    """Mirror `rows` as the indexer does (its writer: `Redeemed` records with their blocks, the
    checkpoint moved to block `checkpoint`). A row for a known id replaces it."""
    blocks: dict[int, Block] = {}
    records = []
    for rid, shop, amount, number, ts in rows:
        block = blocks.setdefault(number, _block(number, ts))
        assert block.timestamp == ts, f"block {number} has one time"
        records.append(
            Redeemed(
                block_number=number,
                block_hash=block.hash,
                tx_hash=f"0x{rid:064x}",
                log_index=0,
                redemption_id=rid,
                shop=cast(ChecksumAddress, shop),
                amount=BaseUnits(amount),
            )
        )
    top = blocks.get(checkpoint) or _block(checkpoint, max((r[4] for r in rows), default=T))
    writer = Writer(path)
    try:
        writer.write(records, blocks, top)
    finally:
        writer.close()


@pytest.fixture
def run(data_dir: Path) -> Callable[..., SettlementResult | None]:
    """settle() on data_dir's mirror, ledger and settlements folder, with overridable defaults."""

    def _run(**overrides: Any) -> SettlementResult | None:
        kwargs: dict[str, Any] = {
            "municipality": MUNICIPALITY,
            "payees": PAYEES,
            "through": THROUGH,
            "through_block": None,
            "execution_date": EXECUTION,
            "created_at": CREATED,
            "pain_version": "03",  # this module checks the 2009 version; .09: test_office_finance
        }
        kwargs.update(overrides)
        return settle(data_dir, **kwargs)

    return _run


def reconcile(data_dir: Path) -> list[str]:
    return reconcile_settlements(data_dir)


def ledger_rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "service.sqlite") as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


def ledger_count(data_dir: Path, table: str) -> int:
    """Rows in a ledger table; 0 when a refused first run left no table at all."""
    if not ledger_rows(data_dir, f"SELECT name FROM sqlite_master WHERE name = '{table}'"):
        return 0
    return int(ledger_rows(data_dir, f"SELECT COUNT(*) FROM {table}")[0][0])


def files(data_dir: Path) -> list[str]:
    folder = data_dir / "settlements"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@functools.cache
def sepaxml_schema() -> Any:
    """The schema sepaxml's own check (`sepaxml.validation.try_valid_xml`) builds for every
    file: xmlschema over the XSD sepaxml ships, built once here (it takes most of a second).
    xmlschema is imported late, as sepaxml does (it patches lxml's etree on import)."""
    import xmlschema

    return xmlschema.XMLSchema(
        str(Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd")
    )


def assert_valid_pain001(path: Path) -> etree._Element:
    data = path.read_bytes()
    root = etree.fromstring(data)
    assert XSD.validate(root), XSD.error_log
    sepaxml_schema().validate(data.decode())  # sepaxml's own (xmlschema) check agrees
    return root


def text(node: etree._Element, path: str) -> str:
    found = node.find(path, NS)
    assert found is not None, path
    return str(found.text)


# --- settle ------------------------------------------------------------------------------------


def test_one_transfer_per_shop_with_exact_cents(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(
        data_dir / "mirror.sqlite",
        [
            (1, SHOP_A, 795, 10, T - 100),  # 7.95 HEIT
            (2, SHOP_B, 1500, 11, T - 90),  # 15.00 HEIT
            (3, SHOP_A, 375, 12, T - 80),  # 3.75 HEIT
        ],
    )
    result = run()

    assert result is not None
    assert result.batch_id == "HEIT-20220331-0001"
    assert result.total_cents == 2670  # 7.95 + 3.75 = 11.70 for shop-1, 15.00 for shop-2
    assert [(p.shop_id, p.end_to_end_id, p.cents, p.redemption_ids) for p in result.payments] == [
        ("shop-1", "HEIT-20220331-0001-01", 1170, (1, 3)),
        ("shop-2", "HEIT-20220331-0001-02", 1500, (2,)),
    ]
    assert result.xml_path == data_dir / "settlements" / "HEIT-20220331-0001.xml"
    assert files(data_dir) == ["HEIT-20220331-0001.csv", "HEIT-20220331-0001.xml"]

    root = assert_valid_pain001(result.xml_path)
    assert text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId") == "HEIT-20220331-0001"
    assert text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm") == "2022-03-31T23:30:00"
    assert text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs") == "2"
    assert text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum") == "26.70"
    pmt = "p:CstmrCdtTrfInitn/p:PmtInf/"
    assert text(root, pmt + "p:ReqdExctnDt") == "2022-04-01"
    assert text(root, pmt + "p:Dbtr/p:Nm") == "Gemeente Heerlen"
    assert text(root, pmt + "p:DbtrAcct/p:Id/p:IBAN") == "NL83BUNQ6678282507"
    assert text(root, pmt + "p:DbtrAgt/p:FinInstnId/p:BIC") == "BUNQNL2A"
    first, second = root.findall(pmt + "p:CdtTrfTxInf", NS)
    assert text(first, "p:Amt/p:InstdAmt") == "11.70"
    assert text(first, "p:CdtrAgt/p:FinInstnId/p:BIC") == "BUNQNL2A"
    # The programme (Heitje of the municipality), the period (March 2022) and the end-to-end id.
    assert (
        text(first, "p:RmtInf/p:Ustrd")
        == "Heitje Gemeente Heerlen 2022-03 HEIT-20220331-0001-01 redemptions 1,3"
    )
    assert text(second, "p:Amt/p:InstdAmt") == "15.00"
    assert second.find("p:CdtrAgt", NS) is None  # no BIC: IBAN-only, no creditor agent
    assert text(second, "p:CdtrAcct/p:Id/p:IBAN") == "NL39ASNB8190086529"  # spaces removed

    assert read_pain001(result.xml_path) == [
        FilePayment(
            "HEIT-20220331-0001-01", "NL90BUNQ8332073502", "Boekhandel Leesteken", EuroCents(1170)
        ),
        FilePayment(
            "HEIT-20220331-0001-02", "NL39ASNB8190086529", "Klusbedrijf Schaesberg", EuroCents(1500)
        ),
    ]

    with result.csv_path.open(newline="", encoding="utf-8") as f:
        summary = list(csv.DictReader(f))
    assert [
        (r["end_to_end_id"], r["shop_id"], r["iban"], r["redemption_ids"], r["heit"], r["eur"])
        for r in summary
    ] == [
        ("HEIT-20220331-0001-01", "shop-1", "NL90BUNQ8332073502", "1 3", "11.70", "11.70"),
        ("HEIT-20220331-0001-02", "shop-2", "NL39ASNB8190086529", "2", "15.00", "15.00"),
    ]

    assert ledger_rows(data_dir, "SELECT * FROM settled_redemptions ORDER BY 1") == [
        (1, "HEIT-20220331-0001", SHOP_A, 795, "HEIT-20220331-0001-01"),
        (2, "HEIT-20220331-0001", SHOP_B, 1500, "HEIT-20220331-0001-02"),
        (3, "HEIT-20220331-0001", SHOP_A, 375, "HEIT-20220331-0001-01"),
    ]
    sha = hashlib.sha256(result.xml_path.read_bytes()).hexdigest()
    assert ledger_rows(
        data_dir,
        "SELECT batch_id, through, through_block, execution_date, file_path, csv_path,"
        " file_sha256, total_cents, payment_count FROM settlement_batches",
    ) == [
        (
            "HEIT-20220331-0001",
            "2022-03-31T23:00:00+02:00",
            100,  # no through_block given: as far as the mirror has indexed
            "2022-04-01",
            "settlements/HEIT-20220331-0001.xml",
            "settlements/HEIT-20220331-0001.csv",
            sha,
            2670,
            2,
        )
    ]
    assert reconcile(data_dir) == []


def test_names_ibans_and_bics_are_cleaned(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_C, 1250, 10, T)])
    typed = ShopPayee(
        SHOP_C, "shop-3", "Kapsalon Knip & Kleur", "nl35 rabo 0351 8427 72", "rabonl2u"
    )
    result = run(payees={SHOP_C: typed})
    assert result is not None
    root = assert_valid_pain001(result.xml_path)
    tx = root.find("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS)
    assert tx is not None
    assert text(tx, "p:Cdtr/p:Nm") == "Kapsalon Knip + Kleur"
    assert text(tx, "p:CdtrAgt/p:FinInstnId/p:BIC") == "RABONL2U"
    assert text(tx, "p:CdtrAcct/p:Id/p:IBAN") == "NL35RABO0351842772"
    assert text(tx, "p:Amt/p:InstdAmt") == "12.50"
    with result.csv_path.open(newline="", encoding="utf-8") as f:
        assert next(csv.DictReader(f))["shop_name"] == "Kapsalon Knip & Kleur"


def test_through_is_inclusive_at_the_exact_second(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(
        data_dir / "mirror.sqlite",
        [
            (1, SHOP_A, 100, 10, T - 1),
            (2, SHOP_A, 200, 11, T),  # exactly at `through`: paid
            (3, SHOP_A, 400, 12, T + 1),  # one second later: not yet
        ],
    )
    first = run()
    assert first is not None
    assert [(p.redemption_ids, p.cents) for p in first.payments] == [((1, 2), 300)]

    later = run(through=THROUGH + timedelta(seconds=1), created_at=CREATED + timedelta(minutes=1))
    assert later is not None
    assert later.batch_id == "HEIT-20220331-0002"
    assert [(p.redemption_ids, p.cents) for p in later.payments] == [((3,), 400)]
    assert reconcile(data_dir) == []


def test_through_block_cuts_off_by_block(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(
        data_dir / "mirror.sqlite",
        [
            (1, SHOP_A, 100, 10, T - 30),
            (2, SHOP_B, 250, 11, T - 20),
            (3, SHOP_A, 400, 12, T - 10),
        ],
        checkpoint=12,
    )
    result = run(through=None, through_block=11)
    assert result is not None
    assert result.through_block == 11
    assert [(p.shop_id, p.redemption_ids, p.cents) for p in result.payments] == [
        ("shop-1", (1,), 100),
        ("shop-2", (2,), 250),
    ]
    assert ledger_rows(data_dir, "SELECT through, through_block FROM settlement_batches") == [
        (None, 11)
    ]
    assert reconcile(data_dir) == []


def test_through_block_beyond_the_mirror_is_refused(
    data_dir: Path, run: Callable[..., Any]
) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 100, 10, T)], checkpoint=10)
    with pytest.raises(MirrorBehind) as err:
        run(through=None, through_block=11)
    assert err.value.code == "mirror_behind"
    assert files(data_dir) == []
    assert ledger_count(data_dir, "settled_redemptions") == 0


def test_rerun_pays_nothing_twice(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 795, 10, T), (2, SHOP_B, 375, 10, T)])
    first = run()
    assert first is not None
    before = files(data_dir)

    assert run() is None
    assert run(created_at=CREATED + timedelta(days=1)) is None
    assert files(data_dir) == before
    assert ledger_count(data_dir, "settlement_batches") == 1
    assert reconcile(data_dir) == []


def test_nothing_due_writes_no_file(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 795, 10, T + 60)])
    assert run() is None
    assert files(data_dir) == []


def test_two_batches_pay_each_redemption_once(data_dir: Path, run: Callable[..., Any]) -> None:
    mirror = data_dir / "mirror.sqlite"
    write_mirror(mirror, [(1, SHOP_A, 795, 10, T - 10), (2, SHOP_B, 1000, 10, T - 10)])
    march = run()
    assert march is not None

    # April: the indexer mirrors more redemptions, one shop redeems again, a new shop too.
    april_end = datetime(2022, 4, 30, 23, 0, tzinfo=CEST)
    write_mirror(
        mirror,
        [(3, SHOP_A, 375, 20, T + 86_400), (4, SHOP_C, 1, 21, T + 86_400 * 2)],
        checkpoint=200,
    )
    april = run(through=april_end, created_at=datetime(2022, 4, 30, 23, 30, tzinfo=CEST))
    assert april is not None
    assert april.batch_id == "HEIT-20220430-0001"
    assert [(p.shop_id, p.redemption_ids, p.cents) for p in april.payments] == [
        ("shop-1", (3,), 375),
        ("shop-3", (4,), 1),  # 0.01 HEIT = 0.01 EUR
    ]
    assert april.total_cents == 376
    assert_valid_pain001(april.xml_path)
    assert ledger_rows(data_dir, "SELECT redemption_id, batch_id FROM settled_redemptions") == [
        (1, "HEIT-20220331-0001"),
        (2, "HEIT-20220331-0001"),
        (3, "HEIT-20220430-0001"),
        (4, "HEIT-20220430-0001"),
    ]
    assert reconcile(data_dir) == []


def test_unknown_payee_is_held_and_the_others_are_paid(
    data_dir: Path, run: Callable[..., Any]
) -> None:
    write_mirror(
        data_dir / "mirror.sqlite",
        [(1, SHOP_A, 795, 10, T), (2, UNKNOWN_SHOP, 500, 10, T), (3, UNKNOWN_SHOP, 250, 11, T)],
    )
    result = run()
    assert result is not None
    assert [(p.shop_id, p.redemption_ids, p.cents) for p in result.payments] == [
        ("shop-1", (1,), 795)
    ]
    assert [(h.shop, h.shop_id, h.code, h.units, h.redemption_ids) for h in result.held] == [
        (UNKNOWN_SHOP, None, "unknown_payee", 750, (2, 3))
    ]
    assert [p.cents for p in read_pain001(result.xml_path)] == [795]
    assert ledger_rows(data_dir, "SELECT redemption_id FROM settled_redemptions") == [(1,)]
    assert ledger_rows(
        data_dir, "SELECT redemption_id, shop, amount, code FROM held_redemptions"
    ) == [(2, UNKNOWN_SHOP, 500, "unknown_payee"), (3, UNKNOWN_SHOP, 250, "unknown_payee")]
    assert reconcile(data_dir) == []


CAKE = "\U0001f370\U0001f370\U0001f370"
ASN = "NL39ASNB8190086529"


@pytest.mark.parametrize(
    ("payee", "code"),
    [
        (ShopPayee(SHOP_B, "shop-2", "Klusbedrijf", "NL90BUNQ8332073503"), "invalid_iban"),
        (ShopPayee(SHOP_B, "shop-2", "Klusbedrijf", ASN, "12345678"), "invalid_bic"),
        (ShopPayee(SHOP_B, "shop-2", "Klusbedrijf", ASN, "INGBNL2A"), "bic_mismatch"),
        (ShopPayee(SHOP_B, "shop-2", CAKE, ASN), "invalid_payee_name"),
    ],
    ids=["iban", "bic", "bic-of-another-bank", "cake-name"],
)
def test_one_bad_payee_is_held_while_the_rest_are_paid(
    data_dir: Path, run: Callable[..., Any], payee: ShopPayee, code: str
) -> None:
    """Payee data made bad before the sign-up checks existed: that shop is held with its
    reason, the batch pays everyone else; once the payee is fixed, the next run pays it."""
    write_mirror(
        data_dir / "mirror.sqlite",
        [(1, SHOP_A, 795, 10, T), (2, SHOP_B, 1500, 10, T), (3, SHOP_C, 125, 11, T)],
    )
    payees = {**PAYEES, SHOP_B: payee}
    first = run(payees=payees)
    assert first is not None
    assert [(p.shop_id, p.cents) for p in first.payments] == [("shop-1", 795), ("shop-3", 125)]
    assert first.total_cents == 920  # 7.95 + 1.25; shop-2's 15.00 held
    assert [(h.shop_id, h.code, h.units, h.redemption_ids) for h in first.held] == [
        ("shop-2", code, 1500, (2,))
    ]
    assert "shop-2" in first.held[0].reason
    assert_valid_pain001(first.xml_path)
    assert ledger_rows(data_dir, "SELECT redemption_id FROM held_redemptions") == [(2,)]
    assert reconcile(data_dir) == []

    assert run(payees=payees, created_at=CREATED + timedelta(minutes=1)) is None  # still held
    later = run(created_at=CREATED + timedelta(minutes=2))  # payee fixed: PAYEES' shop-2
    assert later is not None
    assert [(p.shop_id, p.redemption_ids, p.cents) for p in later.payments] == [
        ("shop-2", (2,), 1500)
    ]
    assert later.held == ()
    assert ledger_rows(data_dir, "SELECT redemption_id FROM held_redemptions") == []
    assert ledger_rows(data_dir, "SELECT redemption_id FROM settled_redemptions ORDER BY 1") == [
        (1,),
        (2,),
        (3,),
    ]
    assert reconcile(data_dir) == []


def test_every_payee_held_writes_no_file_but_records_the_holds(
    data_dir: Path, run: Callable[..., Any]
) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 795, 10, T)])
    bad = {SHOP_A: ShopPayee(SHOP_A, "shop-1", "Boekhandel", "NL90BUNQ8332073503", None)}
    assert run(payees=bad) is None
    assert files(data_dir) == []
    assert ledger_count(data_dir, "settlement_batches") == 0
    assert ledger_rows(data_dir, "SELECT redemption_id, shop_id, code FROM held_redemptions") == [
        (1, "shop-1", "invalid_iban")
    ]


def test_rate_other_than_one_rounds_once_per_shop(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(
        data_dir / "mirror.sqlite",
        [
            (1, SHOP_A, 795, 10, T),  # shop-1: 7.95 + 3.75 = 11.70 HEIT * 0.50 = 5.85 EUR
            (2, SHOP_A, 375, 10, T),
            (3, SHOP_B, 101, 10, T),  # shop-2: 1.01 + 1.01 = 2.02 HEIT * 0.50 = 1.01 EUR
            (4, SHOP_B, 101, 10, T),  # (rounding each 0.505 up would have paid 1.02)
            (5, SHOP_C, 1, 10, T),  # shop-3: 0.01 HEIT * 0.50 = 0.005 EUR, half up: 0.01
        ],
    )
    # No BIC given: derived from the Dutch IBAN (sepaxml would write an empty FinInstnId).
    half = Municipality("Gemeente Heerlen", "NL83BUNQ6678282507", None, "0.50")
    result = run(municipality=half)
    assert result is not None
    assert [(p.shop_id, p.units, p.cents) for p in result.payments] == [
        ("shop-1", 1170, 585),
        ("shop-2", 202, 101),
        ("shop-3", 1, 1),
    ]
    assert result.total_cents == 687
    assert [p.cents for p in read_pain001(result.xml_path)] == [585, 101, 1]
    root = assert_valid_pain001(result.xml_path)
    assert text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId/p:BIC") == "BUNQNL2A"
    with result.csv_path.open(newline="", encoding="utf-8") as f:
        assert [(r["heit"], r["eur"]) for r in csv.DictReader(f)] == [
            ("11.70", "5.85"),
            ("2.02", "1.01"),
            ("0.01", "0.01"),
        ]
    assert reconcile(data_dir) == []  # checks amounts at the batch's own recorded rate


def test_shop_total_under_a_cent_stays_due(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 1, 10, T), (2, SHOP_B, 500, 10, T)])
    low = Municipality("Gemeente Heerlen", "NL83BUNQ6678282507", "BUNQNL2A", "0.4")
    result = run(municipality=low)  # shop-1: 0.01 HEIT * 0.4 = 0.004 EUR rounds to 0.00
    assert result is not None
    assert [(p.shop_id, p.cents) for p in result.payments] == [("shop-2", 200)]
    assert result.deferred_ids == (1,)
    assert ledger_rows(data_dir, "SELECT redemption_id FROM settled_redemptions") == [(2,)]


def test_long_remittance_is_cut_at_a_whole_id(data_dir: Path, run: Callable[..., Any]) -> None:
    rows: list[Row] = [(1000 + i, SHOP_A, 5, 10, T) for i in range(60)]
    write_mirror(data_dir / "mirror.sqlite", rows)
    result = run()
    assert result is not None
    assert result.payments[0].cents == 300  # 60 * 0.05
    root = assert_valid_pain001(result.xml_path)
    ustrd = text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf/p:RmtInf/p:Ustrd")
    assert len(ustrd) <= 140
    assert ustrd.startswith(
        "Heitje Gemeente Heerlen 2022-03 HEIT-20220331-0001-01 redemptions 1000,1001,"
    )
    shown = ustrd.split("redemptions ")[1].split(" (+")[0].split(",")
    assert ustrd.endswith(f" (+{60 - len(shown)} more)")
    assert shown == [str(1000 + i) for i in range(len(shown))]


def test_concurrent_runs_pay_once(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(n, SHOP_A, 100, 10, T) for n in range(1, 41)])
    assert run(through=THROUGH - timedelta(days=1)) is None  # the ledger exists
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run(), range(4)))
    paid = [r for r in results if r is not None]
    assert len(paid) == 1
    assert paid[0].total_cents == 4000  # 40 * 1.00
    assert files(data_dir) == ["HEIT-20220331-0001.csv", "HEIT-20220331-0001.xml"]
    assert reconcile(data_dir) == []


def test_failed_transaction_removes_temp_files(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 795, 10, T)])
    conn = db.connect(data_dir / "service.sqlite")
    ledger.ensure_schema(conn)
    # Stands in for a concurrent run that settled the redemption first.
    conn.execute(
        "CREATE TRIGGER concurrent BEFORE INSERT ON settled_redemptions"
        " BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed'); END"
    )
    conn.close()
    with pytest.raises(AlreadySettled) as err:
        run()
    assert err.value.code == "already_settled"
    assert files(data_dir) == []
    assert ledger_count(data_dir, "settlement_batches") == 0


def test_crash_before_rename_is_finished_by_the_next_run(
    data_dir: Path, run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 795, 10, T)])

    def crash(src: Any, dst: Any) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        run()
    monkeypatch.undo()
    assert files(data_dir) == [".HEIT-20220331-0001.csv.tmp", ".HEIT-20220331-0001.xml.tmp"]
    assert any("is missing" in d for d in reconcile(data_dir))

    assert run() is None  # nothing due: the batch was committed
    assert files(data_dir) == ["HEIT-20220331-0001.csv", "HEIT-20220331-0001.xml"]
    assert reconcile(data_dir) == []


def test_naive_times_are_refused(data_dir: Path, run: Callable[..., Any]) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 795, 10, T)])
    with pytest.raises(ValueError, match="UTC offset"):
        run(through=datetime(2022, 3, 31, 23, 0))
    assert files(data_dir) == []


# --- read back and reconcile -------------------------------------------------------------------


def test_read_pain001_parses_amounts_exactly(tmp_path: Path) -> None:
    path = tmp_path / "bank.xml"
    transfers = "".join(
        f"<CdtTrfTxInf><PmtId><EndToEndId>E{n}</EndToEndId></PmtId>"
        f'<Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt><Cdtr><Nm>Shop {n}</Nm></Cdtr>'
        f"<CdtrAcct><Id><IBAN>NL90BUNQ8332073502</IBAN></Id></CdtrAcct></CdtTrfTxInf>"
        for n, amount in enumerate(["0.1", "1234567.89", "7", "0.29"], start=1)
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>'
        "<GrpHdr><MsgId>M</MsgId><CreDtTm>2022-03-31T23:30:00</CreDtTm><NbOfTxs>4</NbOfTxs>"
        "<CtrlSum>1234575.28</CtrlSum><InitgPty><Nm>G</Nm></InitgPty></GrpHdr>"
        f"<PmtInf>{transfers}</PmtInf></CstmrCdtTrfInitn></Document>",
        encoding="utf-8",
    )
    assert [(p.end_to_end_id, p.cents) for p in read_pain001(path)] == [
        ("E1", 10),
        ("E2", 123456789),
        ("E3", 700),
        ("E4", 29),  # float("0.29") * 100 would be 28.999999999999996
    ]


def settle_march(data_dir: Path, run: Callable[..., Any]) -> SettlementResult:
    write_mirror(
        data_dir / "mirror.sqlite",
        [(1, SHOP_A, 795, 10, T), (2, SHOP_A, 375, 10, T), (3, SHOP_B, 1500, 11, T)],
    )
    result = run()
    assert result is not None
    assert reconcile(data_dir) == []
    return result  # type: ignore[no-any-return]


def test_reconcile_finds_a_tampered_amount(data_dir: Path, run: Callable[..., Any]) -> None:
    result = settle_march(data_dir, run)
    xml = result.xml_path.read_text(encoding="utf-8")
    assert xml.count(">11.70</InstdAmt>") == 1
    result.xml_path.write_text(xml.replace(">11.70</InstdAmt>", ">117.00</InstdAmt>"), "utf-8")

    diffs = reconcile(data_dir)
    assert any("does not match the ledger's sha256" in d for d in diffs)
    assert any("HEIT-20220331-0001-01" in d and "117.00" in d and "11.70" in d for d in diffs), (
        diffs
    )
    assert any("header says 2 payments of EUR 26.70" in d for d in diffs), diffs


def test_reconcile_finds_a_missing_file(data_dir: Path, run: Callable[..., Any]) -> None:
    result = settle_march(data_dir, run)
    result.xml_path.unlink()
    assert reconcile(data_dir) == [
        "batch HEIT-20220331-0001: file HEIT-20220331-0001.xml is missing"
    ]


def test_reconcile_finds_a_double_settled_redemption(
    data_dir: Path, run: Callable[..., Any]
) -> None:
    settle_march(data_dir, run)
    write_mirror(data_dir / "mirror.sqlite", [(4, SHOP_B, 200, 20, T + 60)], checkpoint=200)
    april = run(through=THROUGH + timedelta(days=30), created_at=CREATED + timedelta(days=30))
    assert april is not None
    # Someone rebuilds the ledger table without its PRIMARY KEY and settles redemption 3 again.
    with sqlite3.connect(data_dir / "service.sqlite") as conn:
        conn.executescript(
            "ALTER TABLE settled_redemptions RENAME TO old;"
            "CREATE TABLE settled_redemptions (redemption_id INTEGER, batch_id TEXT, shop TEXT,"
            " amount INTEGER, end_to_end_id TEXT);"
            "INSERT INTO settled_redemptions SELECT * FROM old; DROP TABLE old;"
        )
        conn.execute(
            "INSERT INTO settled_redemptions VALUES (3, ?, ?, 1500, ?)",
            (april.batch_id, SHOP_B, april.payments[0].end_to_end_id),
        )
    conn.close()

    diffs = reconcile(data_dir)
    assert "ledger: settled_redemptions has no PRIMARY KEY on redemption_id" in diffs
    assert (
        "redemption 3: settled more than once, in HEIT-20220331-0001, HEIT-20220430-0001" in diffs
    )
    with pytest.raises(InvalidLedger):  # and settle refuses to work on such a ledger
        run(through=THROUGH + timedelta(days=60))


def test_reconcile_finds_unknown_files_and_mirror_changes(
    data_dir: Path, run: Callable[..., Any]
) -> None:
    result = settle_march(data_dir, run)
    (data_dir / "settlements" / "extra.xml").write_bytes(result.xml_path.read_bytes())
    # The mirror now says redemption 3 burned less (e.g. a reorg the ledger missed).
    write_mirror(data_dir / "mirror.sqlite", [(3, SHOP_B, 700, 11, T)])
    diffs = reconcile(data_dir)
    assert "extra.xml: XML file in the settlements folder unknown to the ledger" in diffs
    assert "redemption 3: ledger amount 15.00 HEIT, mirror 7.00 HEIT" in diffs


# --- the finance officer's run: payees from the service database ------------------------------


def add_shop(conn: sqlite3.Connection, username: str, iban: str, *addresses: str) -> None:
    """A shop account (through `store.accounts`) that had `addresses`, the last one current."""
    user_id = accounts.insert_user(
        conn,
        username=username,
        role="shop",
        password_hash="x",
        name=username.title(),
        address=addresses[-1],
    )
    accounts.insert_shop(conn, user_id, "retail", iban, None)
    for address in addresses[:-1]:
        accounts.add_address(conn, user_id, address)


def test_run_settlement_pays_every_address_of_a_shop(data_dir: Path) -> None:
    db.init_db(data_dir / "service.sqlite")
    conn = db.connect(data_dir / "service.sqlite")
    with db.transaction(conn):
        add_shop(conn, "bakker", "NL39ASNB8190086529", SHOP_A, SHOP_C)  # rotated A -> C
        add_shop(conn, "kapper", "NL35RABO0351842772", SHOP_B)
    conn.close()
    write_mirror(
        data_dir / "mirror.sqlite",
        [(1, SHOP_A, 100, 10, T), (2, SHOP_C, 250, 11, T), (3, SHOP_B, 500, 11, T)],
    )
    result = run_settlement(
        data_dir,
        through=None,
        through_block=11,
        name=MUNICIPALITY.name,
        iban=MUNICIPALITY.iban,
        bic=None,
        eur_per_heitje="0.50",
        now=CREATED,
    )
    assert result is not None
    assert (result["batch_id"], result["xml_path"], result["csv_path"]) == (
        "HEIT-20220331-0001",
        "settlements/HEIT-20220331-0001.xml",
        "settlements/HEIT-20220331-0001.csv",
    )
    assert (result["total_cents"], result["total_eur"], result["anchored"]) == (425, "4.25", [])
    assert [(p["shop_id"], p["redemption_ids"], p["cents"]) for p in result["payments"]] == [
        ("bakker", (1,), 50),  # one payment per address the shop redeemed from
        ("bakker", (2,), 125),
        ("kapper", (3,), 250),
    ]
    assert [(b.batch_id, b.total_cents, b.redemption_ids) for b in ledger_batches(data_dir)] == [
        ("HEIT-20220331-0001", 425, [1, 2, 3])
    ]
    assert ledger_batches(data_dir)[0].file_sha256 == result["file_sha256"]
    assert reconcile(data_dir) == []


def test_run_settlement_without_a_service_database_writes_nothing(data_dir: Path) -> None:
    write_mirror(data_dir / "mirror.sqlite", [(1, SHOP_A, 100, 10, T)])
    with pytest.raises(NotFound) as err:
        run_settlement(
            data_dir,
            through=THROUGH,
            through_block=None,
            name=MUNICIPALITY.name,
            iban=MUNICIPALITY.iban,
            bic=None,
            eur_per_heitje="1.00",
            now=CREATED,
        )
    assert err.value.code == "database_not_found"
    assert sorted(p.name for p in data_dir.iterdir()) == ["mirror.sqlite"]
    assert ledger_batches(data_dir) == []


# --- anchoring on chain: ranges, parts, resuming --------------------------------------------


def test_id_ranges_merge_adjacent_ids() -> None:
    assert id_ranges([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
    assert id_ranges([]) == []
    with pytest.raises(ValueError):
        id_ranges([3, 2])
    with pytest.raises(ValueError):
        id_ranges([0, 1])


def _model(ranges: list[tuple[int, int]]) -> int:
    """The gas model of one part, worked out from the constants (words counted once a part)."""
    gas, words, starts = anchor.PART_GAS, set(), set()
    for first, last in ranges:
        gas += anchor.RANGE_GAS
        if first >> 8 not in starts:
            gas += anchor.START_WORD_GAS
        starts.add(first >> 8)
        for word in range(first >> 8, (last >> 8) + 1):
            if word not in words:
                gas += anchor.WORD_GAS
            words.add(word)
    return gas


@pytest.mark.parametrize("budget", [300_000, 1_000_000, 20_000_000])
def test_plan_parts_keep_every_id_once_within_the_budget(budget: int) -> None:
    # 100,000 ids with every 97th held back, and one more run of 5,000 after a gap.
    ids = [i for i in range(1, 100_001) if i % 97] + list(range(100_500, 105_500))
    parts = plan_parts(ids, budget)
    assert [rid for part in parts for a, b in part for rid in range(a, b + 1)] == ids
    assert all(part and len(part) <= anchor.MAX_RANGES_PER_PART for part in parts)
    assert all(_model(part) <= budget for part in parts)
    # Parts are full: the next part's first range would not have fitted.
    for part, after in itertools.pairwise(parts):
        assert len(part) == anchor.MAX_RANGES_PER_PART or _model([*part, after[0]]) > budget


def test_plan_parts_cut_a_long_range_at_a_bitmap_word() -> None:
    budget = anchor.PART_GAS + anchor.RANGE_GAS + anchor.START_WORD_GAS + 10 * anchor.WORD_GAS
    parts = plan_parts(list(range(1, 6_001)), budget)
    assert parts[0] == [(1, 10 * 256 - 1)]  # ten words: ids 1..2559
    assert parts[1] == [(2_560, 20 * 256 - 1)]
    assert all(part[0][0] % 256 == 0 for part in parts[1:])
    assert parts[-1][-1] == (5_120, 6_000)
    with pytest.raises(ValueError):
        plan_parts([1], anchor.PART_GAS)


BULK_REDEEMER = (
    Path(__file__).resolve().parents[1] / "contracts/out/BulkRedeemer.sol/BulkRedeemer.json"
)


@pytest.fixture(scope="module")
def redeemed_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, Token]]:
    """Anvil with the token deployed and 60 redemptions (ids 1..60, 1 + (i % 5) base units) by
    one shop: a BulkRedeemer test contract, registered as a shop, which a citizen paid."""
    data_dir = tmp_path_factory.mktemp("anchor")
    with Anvil(data_dir) as chain:
        w3 = connect(chain.rpc_url)
        ensure_dev_keys(data_dir)
        manifest = deploy(w3, data_dir)
        token = Token(w3, manifest.token)
        paths = DataDir(data_dir)
        admin, minter, registrar = (
            Signer(w3, service_key(paths.keys, r), paths.nonce_journal)
            for r in ("admin", "minter", "registrar")
        )
        citizen = Account.create()
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [citizen.address, hex(10**20)])
        paying = Signer(w3, citizen, paths.nonce_journal)
        art = json.loads(BULK_REDEEMER.read_text())
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]["object"])
        data = factory.constructor(manifest.token).build_transaction(
            {"from": citizen.address, "gas": 1_000_000, "gasPrice": 0, "nonce": 0}
        )["data"]
        shop = str(paying.transact({"data": data, "gas": 1_000_000})["contractAddress"])
        admin.transact(token.open_reward_period_tx(0, 10**9, 10**9))
        registrar.transact(token.register_account_tx(citizen.address, AccountKind.CITIZEN))
        registrar.transact(token.register_account_tx(shop, AccountKind.SHOP))
        minter.transact(token.mint_reward_tx(citizen.address, 500, b"\x01" * 32))
        paying.transact(token._tx(token.contract.functions.transfer(shop, 500)))
        bulk = w3.eth.contract(address=Web3.to_checksum_address(shop), abi=art["abi"])
        fn = bulk.functions.redeemMany(60, 0)
        paying.transact({"to": bulk.address, "data": fn._encode_transaction_data()})
        assert token.redemption_count() == 60
        yield data_dir, chain.rpc_url, token


def _ledger_batch(
    data_dir: Path, batch_id: str, ids: list[int], token: Token
) -> ledger.LedgerBatch:
    """A batch of `ids` in the ledger of `data_dir`, as `settle` records it."""
    paths = DataDir(data_dir)
    shop = token.redemption(ids[0])[0]
    amounts = {rid: int(token.redemption(rid)[2]) for rid in ids}
    batch = ledger.LedgerBatch(
        batch_id=batch_id,
        created_at=CREATED.isoformat(),
        through=None,
        through_block=1,
        execution_date=EXECUTION.isoformat(),
        file_path=f"settlements/{batch_id}.xml",
        csv_path=f"settlements/{batch_id}.csv",
        file_sha256=hashlib.sha256(batch_id.encode()).hexdigest(),
        total_cents=sum(amounts.values()),
        payment_count=1,
        eur_per_heitje="1.00",
    )
    conn = db.connect(paths.service_db)
    try:
        with db.transaction(conn):
            ledger.ensure_schema(conn)
            ledger.record_batch(
                conn,
                batch,
                [
                    ledger.SettledRedemption(rid, batch_id, shop, amounts[rid], f"{batch_id}-01")
                    for rid in ids
                ],
            )
    finally:
        conn.close()
    return batch


def test_anchoring_in_parts_resumes_after_a_crash_and_records_each_id_once(
    redeemed_chain: tuple[Path, str, Token], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, rpc_url, token = redeemed_chain
    held = {5, 11, 21, 22, 40}  # their shops' payees could not be paid: gaps in the batch
    ids = [rid for rid in range(1, 51) if rid not in held]
    batch = _ledger_batch(data_dir, "HEIT-20220331-0001", ids, token)
    key = batch_id_bytes(batch.batch_id)
    # A block fits a part of two ranges (budget 2/3 of the limit, by the model): 3 parts.
    limit = 430_000
    assert _model([(1, 4), (6, 10)]) <= limit * 2 // 3 < _model([(1, 4), (6, 10), (12, 20)])
    token.w3.provider.make_request(RPCEndpoint("evm_setBlockGasLimit"), [hex(limit)])
    token.w3.provider.make_request(RPCEndpoint("evm_mine"), [])  # the latest block has it
    try:
        expected = plan_parts(ids, limit * 2 // 3)
        assert expected == [[(1, 4), (6, 10)], [(12, 20), (23, 39)], [(41, 50)]]

        real = Signer.transact
        sent: list[int] = []

        def crash_after_one_part(self: Signer, tx: Any, timeout: float = 60.0) -> Any:
            if sent:
                raise RuntimeError("the process died between two parts")
            sent.append(1)
            return real(self, tx, timeout)

        monkeypatch.setattr(Signer, "transact", crash_after_one_part)
        with pytest.raises(AnchorFailed) as failed:
            anchor_settlements(data_dir, rpc_url)
        assert failed.value.files == [batch.file_path]
        record = token.settlement(key)
        assert (record.parts, record.redemptions, record.last_id, record.closed) == (
            1,
            9,
            10,
            False,
        )
        assert token.settlement_of(10) == key and token.settlement_of(12) == bytes(32)

        monkeypatch.setattr(Signer, "transact", real)
        assert anchor_settlements(data_dir, rpc_url) == [batch.batch_id]
    finally:
        token.w3.provider.make_request(RPCEndpoint("evm_setBlockGasLimit"), [hex(30_000_000)])
        token.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    record = token.settlement(key)
    units = sum(1 + ((rid - 1) % 5) for rid in ids)  # redemption i (from 0) burned 1 + i % 5
    assert (record.parts, record.redemptions, record.last_id, record.closed) == (3, 45, 50, True)
    assert (record.total_units, record.total_cents) == (units, units)
    assert record.file_hash.hex() == batch.file_sha256
    assert [token.settlement_of(rid) == key for rid in range(1, 61)] == [
        rid in ids for rid in range(1, 61)
    ]
    parts = token.settlement_parts(0, "latest")
    assert [p.ranges for p in parts if p.batch_id == key] == [
        ((1, 4), (6, 10)),
        ((12, 20), (23, 39)),
        ((41, 50),),
    ]
    # Nothing left to do; and a second batch of the held ids goes in one part of its own.
    assert anchor_settlements(data_dir, rpc_url) == []
    later = _ledger_batch(data_dir, "HEIT-20220430-0001", sorted(held), token)
    assert anchor_settlements(data_dir, rpc_url) == [later.batch_id]
    assert token.settlement(batch_id_bytes(later.batch_id)).parts == 1
    assert token.settlement_of(22) == batch_id_bytes(later.batch_id)
    assert token.settlement_of(23) == key
