"""Finance's side (issue 11, item 4): pain.001.001.09 with structured addresses, TARGET2 days,
end-to-end ids, the bank's feedback (camt.053, pain.002) and the pages.

Without a stack: Easter and the TARGET2 holidays worked out by hand (Easter 2027 is 28 March,
Good Friday 26 March, Easter Monday 29 March); a settlement's pain.001.001.09 file from a
hand-made mirror, valid against sepaxml's XSD, with the addresses, amounts and texts worked
out by hand; the hand-written statements in tests/resources read, matched, unmatched lines
listed and a second import changing nothing; hostile files refused; `heitje bank import`.

On one stack, in chromium at phone size: a resident pays a shop, the shop exchanges the coins
(API); finance runs a settlement on the page, downloads the pain.001, reads in a camt.053 made
from it; the shop's page then says "paid on" that day. axe-core in Dutch and English on every
finance page: no violation of serious or critical impact.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sepaxml
from lxml import etree

from domain.settlement import ShopPayee, read_pain001, reconcile_settlements, settle
from domain.settlement.bank import (
    MAX_BANK_FILE_BYTES,
    Accounts,
    InvalidBankFile,
    import_bank_file,
    read_bank_file,
)
from domain.settlement.batch import Municipality, end_to_end_id
from domain.settlement.sepa import PostalAddress
from domain.settlement.target2 import (
    easter_sunday,
    is_target2_day,
    next_target2_day,
    target2_day_on_or_after,
    target2_holidays,
)
from heitje.datadir import DataDir
from heitje.money import EuroCents
from indexer.mirror import Mirror
from scripts.stack import Stack
from store import bank as bank_store
from store import db
from tests.apiclient import IBAN_BAKKER, Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import run_heitje
from tests.test_settle import SHOP_A, SHOP_B, write_mirror
from web import i18n

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

RESOURCES = Path(__file__).parent / "resources"
SCHEMAS = Path(sepaxml.__file__).parent / "schemas"
NS09 = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
CET = timezone(timedelta(hours=1))

# ----- TARGET2 business days -----


def test_easter_and_target2_holidays() -> None:
    # Easter Sunday, from published calendars.
    assert easter_sunday(2027) == date(2027, 3, 28)
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2025) == date(2025, 4, 20)
    assert easter_sunday(2038) == date(2038, 4, 25)  # the latest possible
    assert easter_sunday(2285) == date(2285, 3, 22)  # the earliest possible
    assert target2_holidays(2027) == {
        date(2027, 1, 1),
        date(2027, 3, 26),  # Good Friday
        date(2027, 3, 29),  # Easter Monday
        date(2027, 5, 1),
        date(2027, 12, 25),
        date(2027, 12, 26),
    }
    assert not is_target2_day(date(2027, 3, 26))  # Good Friday
    assert not is_target2_day(date(2027, 3, 27))  # Saturday
    assert not is_target2_day(date(2027, 3, 29))  # Easter Monday
    assert is_target2_day(date(2027, 3, 30))  # Tuesday
    assert not is_target2_day(date(2026, 5, 1))  # Labour Day, a Friday
    assert is_target2_day(date(2026, 5, 4))


@pytest.mark.parametrize(
    ("run_day", "execution"),
    [
        (date(2027, 3, 25), date(2027, 3, 30)),  # Thu -> Good Friday, weekend, Easter Monday
        (date(2027, 3, 24), date(2027, 3, 25)),  # Wed -> Thu
        (date(2026, 12, 24), date(2026, 12, 28)),  # Thu -> 25, 26 Dec, Sunday -> Mon
        (date(2026, 12, 31), date(2027, 1, 4)),  # Thu -> 1 Jan (Fri), weekend -> Mon
        (date(2026, 4, 30), date(2026, 5, 4)),  # Thu -> 1 May (Fri), weekend -> Mon
        (date(2026, 4, 2), date(2026, 4, 7)),  # Thu -> Good Friday 3 Apr ... Easter Monday 6 Apr
        (date(2027, 4, 9), date(2027, 4, 12)),  # Fri -> Mon
    ],
)
def test_next_target2_day(run_day: date, execution: date) -> None:
    assert next_target2_day(run_day) == execution


@pytest.mark.parametrize(
    ("run_day", "execution"),
    [
        (date(2027, 3, 25), date(2027, 3, 25)),  # a Thursday TARGET2 is open: that day
        (date(2027, 3, 26), date(2027, 3, 30)),  # Good Friday -> Tuesday after Easter Monday
        (date(2027, 3, 27), date(2027, 3, 30)),  # Saturday -> Tuesday
        (date(2026, 12, 25), date(2026, 12, 28)),  # Christmas (Fri) -> Mon
        (date(2027, 1, 1), date(2027, 1, 4)),  # New Year's Day (Fri) -> Mon
    ],
)
def test_execution_day_of_a_run(run_day: date, execution: date) -> None:
    assert target2_day_on_or_after(run_day) == execution


def test_end_to_end_ids() -> None:
    assert end_to_end_id("HEIT-20270325-0001", 1) == "HEIT-20270325-0001-01"
    assert end_to_end_id("HEIT-20270325-0001", 7, 3) == "HEIT-20270325-0001-007"
    assert len(end_to_end_id("HEIT-20270325-99999", 99999, 5)) == 25  # far below 35
    with pytest.raises(ValueError):
        end_to_end_id("HEIT 2027", 1)  # a space is in the EPC set, but not in an id of ours
    with pytest.raises(ValueError):
        end_to_end_id("H" * 40, 1)
    with pytest.raises(ValueError):
        end_to_end_id("HEIT-20270325-0001", 0)


# ----- pain.001.001.09 -----

CREATED = datetime(2027, 3, 25, 16, 0, tzinfo=CET)
T = int(CREATED.timestamp())
BATCH = "HEIT-20270325-0001"
HEERLEN = Municipality(
    "Gemeente Heerlen",
    "NL83BUNQ6678282507",
    "BUNQNL2A",
    "1.00",
    PostalAddress("Geleenstraat", "27", "6411 HR", "Heerlen", "NL"),
)
PAYEES = {
    SHOP_A: ShopPayee(SHOP_A, "hoekje", "Café 't Hoekje", "NL90BUNQ8332073502", "BUNQNL2A"),
    SHOP_B: ShopPayee(SHOP_B, "klus", "Klusbedrijf Schaesberg", "NL39 ASNB 8190 0865 29", None),
}
HOEKJE = PostalAddress("Akerstraat", "12a", "6411 GX", "Heerlen")


def _settled(data_dir: Path, version: str = "09") -> Any:
    write_mirror(
        data_dir / "mirror.sqlite",
        [
            (1, SHOP_A, 795, 10, T - 300),  # 7.95 HEIT
            (2, SHOP_B, 1500, 11, T - 200),  # 15.00 HEIT
            (3, SHOP_A, 375, 12, T - 100),  # 3.75 HEIT
        ],
    )
    return settle(
        data_dir,
        municipality=HEERLEN,
        payees=PAYEES,
        through=CREATED,
        through_block=None,
        execution_date=next_target2_day(CREATED.date()),
        created_at=CREATED,
        pain_version=version,
        addresses={"hoekje": HOEKJE},
    )


def _text(node: Any, path: str) -> str:
    found = node.find(path, NS09)
    assert found is not None, path
    return str(found.text)


def test_pain001_09_with_structured_addresses(tmp_path: Path) -> None:
    result = _settled(tmp_path)
    assert result is not None and result.batch_id == BATCH
    assert result.pain_version == "pain.001.001.09"
    data = result.xml_path.read_bytes()
    root = etree.fromstring(data)
    xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / "pain.001.001.09.xsd")))
    assert xsd.validate(root), xsd.error_log

    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId") == BATCH
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm") == "2027-03-25T16:00:00"
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs") == "2"
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum") == "26.70"  # 11.70 + 15.00
    pmt = "p:CstmrCdtTrfInitn/p:PmtInf/"
    assert _text(root, pmt + "p:PmtInfId") == BATCH
    # Thursday 25 March 2027: Good Friday, the weekend and Easter Monday come first.
    assert _text(root, pmt + "p:ReqdExctnDt/p:Dt") == "2027-03-30"
    debtor = pmt + "p:Dbtr/p:PstlAdr/"
    assert [
        _text(root, debtor + f"p:{tag}") for tag in ("StrtNm", "BldgNb", "PstCd", "TwnNm", "Ctry")
    ] == ["Geleenstraat", "27", "6411 HR", "Heerlen", "NL"]
    assert _text(root, pmt + "p:DbtrAgt/p:FinInstnId/p:BICFI") == "BUNQNL2A"
    first, second = root.findall(pmt + "p:CdtTrfTxInf", NS09)
    assert _text(first, "p:PmtId/p:EndToEndId") == f"{BATCH}-01"
    assert _text(first, "p:Amt/p:InstdAmt") == "11.70"  # 7.95 + 3.75
    assert _text(first, "p:CdtrAgt/p:FinInstnId/p:BICFI") == "BUNQNL2A"
    assert _text(first, "p:Cdtr/p:Nm") == "Cafe 't Hoekje"  # é in the EPC set
    assert [
        _text(first, f"p:Cdtr/p:PstlAdr/p:{tag}")
        for tag in ("StrtNm", "BldgNb", "PstCd", "TwnNm", "Ctry")
    ] == ["Akerstraat", "12a", "6411 GX", "Heerlen", "NL"]
    assert (
        _text(first, "p:RmtInf/p:Ustrd")
        == f"Heitje Gemeente Heerlen 2027-03 {BATCH}-01 redemptions 1,3"
    )
    assert _text(second, "p:PmtId/p:EndToEndId") == f"{BATCH}-02"
    assert _text(second, "p:Amt/p:InstdAmt") == "15.00"
    assert second.find("p:Cdtr/p:PstlAdr", NS09) is None  # no address known: none written
    assert second.find("p:CdtrAgt", NS09) is None  # IBAN-only

    # Read back like a .03 file, and the audit agrees with the ledger.
    assert [(p.end_to_end_id, p.cents) for p in read_pain001(result.xml_path)] == [
        (f"{BATCH}-01", EuroCents(1170)),
        (f"{BATCH}-02", EuroCents(1500)),
    ]
    assert reconcile_settlements(tmp_path) == []


def test_pain001_03_still_selectable(tmp_path: Path) -> None:
    result = _settled(tmp_path, "03")
    assert result is not None and result.pain_version == "pain.001.001.03"
    root = etree.fromstring(result.xml_path.read_bytes())
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}Document"
    xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / "pain.001.001.03.xsd")))
    assert xsd.validate(root), xsd.error_log
    assert reconcile_settlements(tmp_path) == []


# ----- bank feedback -----


def test_camt053_read() -> None:
    statement = read_bank_file((RESOURCES / "camt053_001_02_statement.xml").read_bytes())
    assert (statement.kind, statement.message, statement.message_id) == (
        "camt.053",
        "camt.053.001.02",
        "STMT-20270330-01",
    )
    assert [
        (x.entry_ref, x.end_to_end_id, x.cents, x.direction, x.status, x.booking_date)
        for x in statement.lines
    ] == [
        ("BANK-REF-0001", f"{BATCH}-01", 1170, "DBIT", "BOOK", "2027-03-30"),
        ("BANK-REF-0002", f"{BATCH}-02", 1501, "DBIT", "BOOK", "2027-03-30"),
        ("BANK-REF-0003", None, 5000, "CRDT", "BOOK", "2027-03-30"),
        ("BANK-REF-0004", "OTHER-PAYMENT-7", 300, "DBIT", "PDNG", "2027-03-30"),
    ]
    batch = read_bank_file((RESOURCES / "camt053_001_08_batch.xml").read_bytes())
    assert batch.message == "camt.053.001.08"
    assert [(x.end_to_end_id, x.cents, x.batch_ref, x.status) for x in batch.lines] == [
        (f"{BATCH}-01", 1170, BATCH, "BOOK"),
        (f"{BATCH}-02", 1500, BATCH, "BOOK"),
    ]


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
        for t in ("bank_files", "bank_bookings", "bank_paid_payments")
    )


def test_a_booking_to_another_account_is_never_paid(tmp_path: Path) -> None:
    """Review of issue 11: a debit counts as paid only from the municipality's own account and
    to the account the service wrote in the pain.001 (else a payment file changed before it
    went to the bank would reconcile as paid from the bank's genuine statement)."""
    statement = (RESOURCES / "camt053_001_02_statement.xml").read_bytes()
    own = "NL83 BUNQ 6678 2825 07"  # the statement's account, as a person types it
    cases = [
        ("right", statement, own, "paid"),
        ("changed", statement.replace(b"NL90BUNQ8332073502", b"NL02ABNA0123456789"), own,
         "iban_differs"),
        ("other", statement, "NL91ABNA0417164300", "wrong_account"),
    ]  # fmt: skip
    for name, data, debtor, outcome in cases:
        folder = tmp_path / name
        folder.mkdir()
        _settled(folder)
        db.init_db(folder / "service.sqlite")
        conn = db.connect(folder / "service.sqlite")
        try:
            done = import_bank_file(
                conn, data, "dag.xml", imported_by="fien", now=datetime(2027, 3, 30, tzinfo=CET),
                accounts=Accounts(debtor, DataDir(folder).settlements),
            )  # fmt: skip
        finally:
            conn.close()
        assert done.lines[0].end_to_end_id == f"{BATCH}-01"
        assert done.lines[0].outcome == outcome, name
        assert done.paid == ((f"{BATCH}-01",) if outcome == "paid" else ()), name
        assert (outcome == "paid") is (1 not in [x.line for x in done.unmatched]), name


def test_matching_unmatched_and_idempotent(tmp_path: Path) -> None:
    _settled(tmp_path)
    service = tmp_path / "service.sqlite"
    db.init_db(service)  # the service tables beside the ledger settle() made
    conn = db.connect(service)
    now = datetime(2027, 3, 30, 19, 0, tzinfo=CET)
    try:
        statement = (RESOURCES / "camt053_001_02_statement.xml").read_bytes()
        first = import_bank_file(conn, statement, "dag.xml", imported_by="fien", now=now)
        assert not first.already_imported
        assert [(x.end_to_end_id, x.outcome) for x in first.lines] == [
            (f"{BATCH}-01", "paid"),
            (f"{BATCH}-02", "amount_differs"),  # 15.01 booked, 15.00 asked
            (None, "unknown"),  # a deposit
            ("OTHER-PAYMENT-7", "unknown"),
        ]
        assert first.paid == (f"{BATCH}-01",)
        assert first.paid_redemptions == 2  # redemptions 1 and 3
        assert [x.line for x in first.unmatched] == [2, 3, 4]
        assert bank_store.redemptions_paid_on(conn, [1, 2, 3]) == {
            1: "2027-03-30",
            3: "2027-03-30",
        }
        before = _counts(conn)
        assert before == (1, 4, 1)

        again = import_bank_file(conn, statement, "dag-kopie.xml", imported_by="fien", now=now)
        assert again.already_imported and again.file_id == first.file_id
        assert [x.outcome for x in again.lines] == [x.outcome for x in first.lines]
        assert _counts(conn) == before  # nothing changed

        report = (RESOURCES / "pain002_001_10_rejected.xml").read_bytes()
        status = import_bank_file(conn, report, "status.xml", imported_by="fien", now=now)
        assert status.kind == "pain.002"
        assert [(x.end_to_end_id, x.status, x.reason, x.outcome) for x in status.lines] == [
            (f"{BATCH}-01", "ACCP", "", "accepted"),
            (f"{BATCH}-02", "RJCT", "AC04", "rejected"),
        ]
        assert status.paid == ()

        # The next day's batch booking: -01 was booked already (another bank reference, so
        # the money left twice: not matching), -02 now for the right amount.
        batch = (RESOURCES / "camt053_001_08_batch.xml").read_bytes()
        later = import_bank_file(conn, batch, "batch.xml", imported_by="fien", now=now)
        assert [(x.end_to_end_id, x.outcome) for x in later.lines] == [
            (f"{BATCH}-01", "paid_twice"),
            (f"{BATCH}-02", "paid"),
        ]
        assert bank_store.redemptions_paid_on(conn, [1, 2, 3]) == {
            1: "2027-03-30",
            2: "2027-03-31",
            3: "2027-03-30",
        }
        # The same booking in another statement file: listed as read in before.
        copy = statement.replace(b"STMT-20270330-01", b"STMT-20270330-02")
        dup = import_bank_file(conn, copy, "dag2.xml", imported_by="fien", now=now)
        assert [x.outcome for x in dup.lines][:2] == ["duplicate", "duplicate"]
        assert dup.paid == ()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "boom">]>'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>',
            "DOCTYPE",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>',
            "DOCTYPE",
        ),
        (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.09'/>", "namespace"),
        (b"not xml at all", "well-formed"),
        (b" " * (MAX_BANK_FILE_BYTES + 1), "bytes"),
    ],
)
def test_hostile_bank_files_refused(data: bytes, why: str) -> None:
    with pytest.raises(InvalidBankFile) as caught:
        read_bank_file(data)
    assert why in caught.value.message
    assert caught.value.code == "invalid_bank_file"


def test_bank_import_command(tmp_path: Path) -> None:
    _settled(tmp_path)
    statement = RESOURCES / "camt053_001_02_statement.xml"
    proc = run_heitje("bank", "import", str(statement), "--data-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["paid"] == [f"{BATCH}-01"] and out["paid_redemptions"] == 2
    assert [x["line"] for x in out["unmatched"]] == [2, 3, 4]
    proc = run_heitje("bank", "import", str(statement), "--data-dir", str(tmp_path), timeout=60)
    assert json.loads(proc.stdout)["already_imported"] is True
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<x/>")
    proc = run_heitje("bank", "import", str(bad), "--data-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "camt.053" in proc.stderr


# ----- the pages, on one stack -----

MUNICIPALITY_ENV = {
    "HEITJE_MUNICIPALITY_NAME": "Gemeente Heerlen",
    "HEITJE_MUNICIPALITY_IBAN": "NL83BUNQ6678282507",
    "HEITJE_MUNICIPALITY_BIC": "BUNQNL2A",
    "HEITJE_MUNICIPALITY_STREET": "Geleenstraat",
    "HEITJE_MUNICIPALITY_HOUSE_NUMBER": "27",
    "HEITJE_MUNICIPALITY_POSTCODE": "6411 HR",
    "HEITJE_MUNICIPALITY_TOWN": "Heerlen",
}


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    module_stack.restart_api(**MUNICIPALITY_ENV)
    client = Api(module_stack)
    client.staff("coco", "coordinator")
    client.staff("fien", "finance")
    client.staff("audrey", "auditor")
    r = client.request(
        "POST",
        "/shops",
        json={
            "username": "hoekje",
            "password": "hoekje-wachtwoord",
            "name": "Café 't Hoekje",
            "category": "food",
            "iban": IBAN_BAKKER,
            "kvk": "12345678",
            "street": "Akerstraat",
            "house_number": "12a",
            "postcode": "6411GX",
            "town": "Heerlen",
        },
    )
    assert r.status_code == 201, r.text
    client.passwords["hoekje"] = "hoekje-wachtwoord"
    client.addresses["hoekje"] = r.json()["address"]
    client.approve_shop("hoekje")
    client.citizen("wendy")
    client.wait_registered("wendy", "hoekje")
    client.reward("fin-1", "10.00", "wendy")
    r = client.request("POST", "/payments", "wendy", json={"to": "hoekje", "amount": "6.50"})
    assert r.status_code == 201, r.text
    with Mirror(module_stack.data_dir / "mirror.sqlite") as mirror:
        mirror.wait_until(int(r.json()["block_number"]), timeout=30)
    r = client.request("POST", "/redemptions", "hoekje", json={"amount": "6.50"})
    assert r.status_code == 201, r.text
    with Mirror(module_stack.data_dir / "mirror.sqlite") as mirror:
        mirror.wait_until(int(r.json()["block_number"]), timeout=30)
    yield client
    client.close()


def _log_in(page: Page, url: str, username: str, password: str, target: str) -> None:
    page.goto(url + target)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()


def _ledger(stack: Stack, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(stack.data_dir / "service.sqlite")
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def camt053_for(pain001: bytes, booked: date) -> bytes:
    """A camt.053.001.08 statement booking every payment of a pain.001 file one by one on
    `booked`: what the bank sends back after paying it."""
    root = etree.fromstring(pain001)
    ns = {"p": root.nsmap[None]}
    entries = []
    for n, tx in enumerate(root.iterfind(".//p:CdtTrfTxInf", ns), start=1):
        e2e = tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns)
        amount = tx.findtext("p:Amt/p:InstdAmt", namespaces=ns)
        entries.append(
            f"<Ntry><Amt Ccy='EUR'>{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{booked.isoformat()}</Dt></BookgDt>"
            f"<AcctSvcrRef>TEST-{n}</AcctSvcrRef><NtryDtls><TxDtls><Refs>"
            f"<EndToEndId>{e2e}</EndToEndId></Refs><Amt Ccy='EUR'>{amount}</Amt>"
            "</TxDtls></NtryDtls></Ntry>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'><BkToCstmrStmt>"
        f"<GrpHdr><MsgId>STMT-{booked:%Y%m%d}</MsgId><CreDtTm>{booked}T18:00:00</CreDtTm>"
        "</GrpHdr><Stmt><Id>1</Id><Acct><Id><IBAN>NL83BUNQ6678282507</IBAN></Id></Acct>"
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def _axe(page: Page, where: str) -> None:
    """No serious or critical axe violation, and nothing wider than the phone (WCAG 1.4.10)."""
    assert axe_violations(page) == [], where
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, where


@browser_test
def test_finance_settles_reads_the_statement_and_the_shop_sees_paid(
    module_stack: Stack, api: Api, browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    context = phone_context(browser)
    page = context.new_page()
    try:
        _log_in(page, url, "fien", api.passwords["fien"], "/office/settlement")
        waiting = page.locator("#waiting tbody tr")
        expect(waiting).to_have_count(1)
        expect(waiting.first).to_contain_text("Café 't Hoekje")
        expect(waiting.first.locator("td").nth(1)).to_have_text("€ 6,50")
        expect(page.locator("#pain_version-09")).to_be_checked()  # the default
        _axe(page, "settlement nl")

        # A day in the future is refused next to the field, nothing run.
        future = (datetime.now(i18n.TIMEZONE).date() + timedelta(days=2)).isoformat()
        page.locator("#through").fill(future)
        page.locator("form[action='/office/settlement'] button[type=submit]").click()
        expect(page.locator("#through-error")).to_be_visible()
        expect(page.locator("#through")).to_have_value(future)
        assert _ledger(module_stack, "SELECT COUNT(*) FROM settlement_batches") == [(0,)]
        _axe(page, "settlement with an error nl")

        page.locator("#through").fill(datetime.now(i18n.TIMEZONE).date().isoformat())
        page.locator("form[action='/office/settlement'] button[type=submit]").click()
        expect(page.locator("#notice")).to_contain_text("€ 6,50")
        ((batch_id, execution, total),) = _ledger(
            module_stack, "SELECT batch_id, execution_date, total_cents FROM settlement_batches"
        )
        assert total == 650
        # The run's own day (`ctx.now`, UTC) when TARGET2 is open, else its next open day.
        assert date.fromisoformat(execution) == target2_day_on_or_after(datetime.now(UTC).date())
        row = page.locator("#runs tbody tr").first
        expect(row).to_contain_text(batch_id)
        expect(row).to_contain_text("Vastgelegd")  # recorded on chain
        expect(page.locator("#waiting-empty")).to_be_visible()
        _axe(page, "settlement after the run nl")
        screenshot(page, "office-finance-settlement", tmp_path)

        # The download: a valid pain.001.001.09 with the shop's structured address.
        r = page.request.get(f"{url}/office/settlement/{batch_id}/pain.001.xml")
        assert r.status == 200 and r.headers["content-type"].startswith("application/xml")
        pain = r.body()
        root = etree.fromstring(pain)
        xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / "pain.001.001.09.xsd")))
        assert xsd.validate(root), xsd.error_log
        (tx,) = root.findall(".//p:CdtTrfTxInf", NS09)
        assert _text(tx, "p:Amt/p:InstdAmt") == "6.50"
        assert _text(tx, "p:Cdtr/p:PstlAdr/p:StrtNm") == "Akerstraat"
        assert _text(tx, "p:Cdtr/p:PstlAdr/p:PstCd") == "6411 GX"
        assert _text(root, ".//p:Dbtr/p:PstlAdr/p:TwnNm") == "Heerlen"
        e2e = _text(tx, "p:PmtId/p:EndToEndId")
        assert e2e == f"{batch_id}-01"
        r = page.request.get(f"{url}/office/settlement/{batch_id}/summary.csv")
        assert r.status == 200 and e2e in r.text()
        for bad in ("HEIT-20990101-0001/pain.001.xml", f"{batch_id}/other", "..%2Fservice/x"):
            assert page.request.get(f"{url}/office/settlement/{bad}").status == 404, bad

        # The bank's statement, made from the file, read in.
        booked = date.fromisoformat(execution)
        page.goto(url + "/office/bank")
        _axe(page, "bank nl")
        page.locator("form[action='/office/bank'] button[type=submit]").click()
        expect(page.locator("#statement-error")).to_be_visible()  # no file chosen
        page.locator("#statement").set_input_files(
            {"name": "afschrift.xml", "mimeType": "application/xml", "buffer": b"<x/>"}
        )
        page.locator("form[action='/office/bank'] button[type=submit]").click()
        expect(page.locator("#statement-error")).to_be_visible()
        assert _ledger(module_stack, "SELECT COUNT(*) FROM bank_files") == [(0,)]
        statement = camt053_for(pain, booked)
        page.locator("#statement").set_input_files(
            {"name": "afschrift.xml", "mimeType": "application/xml", "buffer": statement}
        )
        page.locator("form[action='/office/bank'] button[type=submit]").click()
        expect(page.locator("#notice")).to_contain_text(": 1.")
        expect(page.locator("#matched tbody tr")).to_have_count(1)
        expect(page.locator("#matched tbody tr").first).to_contain_text(e2e)
        expect(page.locator("#unmatched-empty")).to_be_visible()
        _axe(page, "bank result nl")
        screenshot(page, "office-finance-bank-result", tmp_path)

        # The staff log has every action, with the batch and the statement.
        actions = _ledger(
            module_stack,
            "SELECT action, subject, actor FROM staff_log WHERE action LIKE 'settlement.%'"
            " OR action LIKE 'bank.%' ORDER BY id",
        )
        assert actions == [
            ("settlement.run", batch_id, "fien"),
            ("settlement.anchor", batch_id, "fien"),
            ("bank.statement_import", f"STMT-{booked:%Y%m%d}", "fien"),
        ]

        # English, with axe; the same file again changes nothing.
        en = phone_context(browser, locale="en-GB")
        page_en = en.new_page()
        try:
            _log_in(page_en, url, "fien", api.passwords["fien"], "/office/settlement")
            expect(page_en.locator("#runs")).to_be_visible()
            _axe(page_en, "settlement en")
            page_en.goto(url + "/office/bank")
            _axe(page_en, "bank en")
            page_en.locator("#statement").set_input_files(
                {"name": "again.xml", "mimeType": "application/xml", "buffer": statement}
            )
            page_en.locator("form[action='/office/bank'] button[type=submit]").click()
            expect(page_en.locator("#notice")).to_have_text(
                "This file was read in before. Nothing changed."
            )
            _axe(page_en, "bank result en")
        finally:
            en.close()
        assert _ledger(module_stack, "SELECT COUNT(*) FROM bank_files") == [(1,)]

        # An auditor may download the file too; a shop may not.
        auditor = phone_context(browser)
        try:
            page_a = auditor.new_page()
            _log_in(page_a, url, "audrey", api.passwords["audrey"], "/office")
            r = page_a.request.get(f"{url}/office/settlement/{batch_id}/pain.001.xml")
            assert r.status == 200 and r.body() == pain
            assert page_a.request.get(f"{url}/office/settlement").status == 403
        finally:
            auditor.close()

        # The shop sees the day the bank paid.
        shop = phone_context(browser)
        try:
            page_s = shop.new_page()
            _log_in(page_s, url, "hoekje", "hoekje-wachtwoord", "/shop")
            status = page_s.locator(".heitje-shop-redemptions tbody tr").first.locator("td")
            expect(status.nth(2)).to_have_text(f"Betaald op {i18n.format_day(booked, 'nl')}")
            r = page_s.request.get(f"{url}/office/settlement/{batch_id}/pain.001.xml")
            assert r.status == 403
            screenshot(page_s, "office-finance-shop-paid", tmp_path)
        finally:
            shop.close()
    finally:
        context.close()
