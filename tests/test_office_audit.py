"""The auditor's workbench (issue 11, item 5), on one stack: a small year made through the API
(three tasks published, approved and minted: 10, 20 and 5 HEIT; two residents pay a shop 8 and
12 HEIT; the shop exchanges 15 HEIT for euros, which a settlement run pays and records on chain
and the bank's camt.053 statement books, then 3 HEIT more that nobody has paid yet; one task
is sent in with a photo).

Then: the workbench's totals are what those steps make (35.00 minted, 20.00 paid at shops,
18.00 exchanged, 17.00 left, EUR 15.00 paid out and booked) and every source agrees; each mint
shows its task's title, approver and photo, found by recomputing its on-chain reference (a
mint whose outbox label is wrong is still resolved); the exchanges show their settlement and
booking; the evidence pack's
SHA256SUMS hold for every file (hashlib, and `sha256sum -c`), its CSV sums equal the chain's
totals, and docs/evidence.md's `sqlite3` and `cast` checks pass on it; `heitje evidence` writes
the same kind of pack. In chromium at phone size: an auditor's pages (axe in Dutch and
English on each), a refused period shown next to the field, the pack downloaded and written in
the staff log; a coordinator gets 403.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from domain import evidence, workbench
from domain.settlement import MirrorBehind, run_settlement
from heitje.errors import Refused
from scripts.stack import Stack
from store import workbench as service_reads
from tests.apiclient import IBAN_BAKKER, Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import poll, run_heitje

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
REWARDS = {"aud-1": ("10.00", "wendy"), "aud-2": ("20.00", "piet"), "aud-3": ("5.00", "wendy")}
MINTED = 1000 + 2000 + 500  # base units: the three rewards
PAID = 800 + 1200  # wendy and piet pay the bakery
REDEEMED = 1500 + 300  # the bakery exchanges twice
SETTLED_CENTS = 1500  # the first exchange is paid at 1 EUR per HEIT


def test_a_totals_row_says_whether_its_sources_agree() -> None:
    differs = workbench.TotalRow("minted", "HEIT", chain=3500, mirror=3400, service=None)
    assert (differs.compared, differs.agrees, differs.difference) == (True, False, 100)
    alone = workbench.TotalRow("paid_to_shops", "HEIT", mirror=2000)
    assert (alone.compared, alone.agrees, alone.difference) == (False, True, 0)
    same = workbench.TotalRow("settled", "EUR", chain=1500, service=1500, files=1500, bank=1500)
    assert (same.compared, same.agrees) == (True, True)


def test_a_period_is_business_days_in_amsterdam() -> None:
    p = workbench.period(None, None, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    # 22:30 UTC on 31 March is 00:30 on 1 April in Amsterdam (summer time)
    assert (p.first.isoformat(), p.last.isoformat()) == ("2026-04-01", "2026-04-01")
    assert p.start.isoformat() == "2026-04-01T00:00:00+02:00"
    assert p.end_ts - p.start_ts == 24 * 3600
    with pytest.raises(Refused) as caught:
        workbench.period(p.last, p.first - timedelta(days=1), datetime.now(UTC))
    assert caught.value.code == "invalid_period"


def _settle(stack: Stack, through_block: int) -> dict[str, Any] | None:
    try:
        return run_settlement(
            stack.data_dir,
            through=None,
            through_block=through_block,
            name="Gemeente Heerlen",
            iban="NL91ABNA0417164300",
            bic=None,
            eur_per_heitje="1",
            now=datetime.now(UTC),
            rpc_url=stack.rpc_url,
        )
    except MirrorBehind:
        return None


def _mirror_at_head(stack: Stack) -> None:
    head = int(stack.token.w3.eth.block_number)
    conn = sqlite3.connect(f"file:{stack.data_dir / 'mirror.sqlite'}?mode=ro", uri=True)

    def reached() -> bool:
        row = conn.execute("SELECT block_number FROM checkpoint").fetchone()
        return row is not None and int(row[0]) >= head

    try:
        poll(reached, f"the mirror at block {head}")
    finally:
        conn.close()


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 120, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def _bank_books(stack: Stack, batch_id: str) -> None:
    """The bank's camt.053 statement booking every payment of the batch's pain.001 file today,
    read in as finance does (`domain.settlement.bank`)."""
    from lxml import etree

    from domain.settlement.bank import import_bank_file
    from store.db import connect

    root = etree.fromstring((stack.paths.settlements / f"{batch_id}.xml").read_bytes())
    ns = {"p": root.nsmap[None]}
    today = _today()
    entries = ""
    for n, tx in enumerate(root.iterfind(".//p:CdtTrfTxInf", ns), start=1):
        e2e = tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns)
        amount = tx.findtext("p:Amt/p:InstdAmt", namespaces=ns)
        entries += (
            f"<Ntry><Amt Ccy='EUR'>{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{today}</Dt></BookgDt>"
            f"<AcctSvcrRef>AUD-{n}</AcctSvcrRef><NtryDtls><TxDtls><Refs>"
            f"<EndToEndId>{e2e}</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>"
        )
    statement = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'><BkToCstmrStmt>"
        f"<GrpHdr><MsgId>STMT-AUD</MsgId><CreDtTm>{today}T18:00:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>1</Id><Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>"
        f"{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()
    conn = connect(stack.paths.service_db)
    try:
        done = import_bank_file(
            conn,
            statement,
            "statement.xml",
            imported_by="cli",
            now=datetime.now(UTC),
            keep_in=stack.paths.bank,
        )
    finally:
        conn.close()
    assert [line.outcome for line in done.lines] == ["paid"]


@pytest.fixture(scope="module")
def year(module_stack: Stack) -> Iterator[dict[str, Any]]:
    """The small year, made through the API; what it made (batch id, redemption ids)."""
    api = Api(module_stack)
    try:
        for name, role in (("coco", "coordinator"), ("audra", "auditor"), ("fien", "finance")):
            api.staff(name, role)
        api.staff("cora", "coordinator")
        api.citizen("wendy")
        api.citizen("piet")
        api.shop("bakker", IBAN_BAKKER)
        api.wait_registered("wendy", "piet", "bakker")
        for ref, (reward, who) in REWARDS.items():
            if ref != "aud-2":
                api.reward(ref, reward, who)
                continue
            # sent in with a photo, as the pages do
            api.publish(ref, reward)
            assert api.request("POST", f"/tasks/{ref}/claim", who).status_code == 200
            r = api.http.post(
                f"/tasks/{ref}/proof",
                data={"note": "Painted green"},
                files={"photos": ("bin.png", _png(), "image/png")},
                headers={"Authorization": f"Bearer {api.token(who)}"},
            )
            api.http.cookies.clear()
            assert r.status_code == 200, r.text
            assert api.approve(ref).status_code == 200
            api.wait_reward(ref)
        for who, amount in (("wendy", "8.00"), ("piet", "12.00")):
            r = api.request("POST", "/payments", who, json={"to": "bakker", "amount": amount})
            assert r.status_code == 201, r.text
        first = api.request("POST", "/redemptions", "bakker", json={"amount": "15.00"})
        assert first.status_code == 201, first.text
        head = int(module_stack.token.w3.eth.block_number)
        settled = poll(lambda: _settle(module_stack, head), "a settlement through the head")
        assert settled is not None and settled["anchored"] == [settled["batch_id"]]
        _bank_books(module_stack, settled["batch_id"])
        second = api.request("POST", "/redemptions", "bakker", json={"amount": "3.00"})
        assert second.status_code == 201, second.text
        _mirror_at_head(module_stack)
        yield {
            "api": api,
            "batch": settled["batch_id"],
            "settled_id": first.json()["redemption_id"],
            "open_id": second.json()["redemption_id"],
        }
    finally:
        api.close()


def _today() -> str:
    return datetime.now(AMSTERDAM).date().isoformat()


def _period() -> workbench.Period:
    return workbench.period(None, None, datetime.now(UTC))


def test_totals_and_lists_are_what_the_year_made(module_stack: Stack, year: dict[str, Any]) -> None:
    with workbench.open_sources(module_stack.data_dir, module_stack.rpc_url) as src:
        p = _period()
        totals = workbench.totals(src, p)
        expected = {
            "minted": (MINTED, MINTED),
            "paid_to_shops": (None, PAID),
            "refunded": (None, 0),
            "redeemed": (REDEEMED, REDEEMED),
            "supply": (MINTED - REDEEMED, MINTED - REDEEMED),
        }
        for key, (chain, mirror) in expected.items():
            row = totals.row(key)
            assert (row.chain, row.mirror) == (chain, mirror), key
            assert row.agrees, key
        settled = totals.row("settled")
        assert (settled.chain, settled.service, settled.files, settled.bank) == (SETTLED_CENTS,) * 4
        assert settled.agrees and totals.batches == [year["batch"]]
        assert totals.bank_note is None

        mints = workbench.mints(src, p)
        assert (mints.count, mints.units) == (3, MINTED)
        titles = {m.task.title: m for m in mints.items if m.task is not None}
        assert set(titles) == {f"Paint waste bin {ref}" for ref in REWARDS}
        for ref, (reward, who) in REWARDS.items():
            line = titles[f"Paint waste bin {ref}"]
            assert line.task is not None
            assert (line.task.ref, line.task.approved_by, line.task.claimed_by) == (
                ref,
                "coco",
                who,
            )
            assert line.citizen == who
            assert line.reward.amount == int(reward.replace(".", ""))
            assert line.task.published_by == year["api"].publisher
            assert line.task.photos == (["/tasks/aud-2/proof/1"] if ref == "aud-2" else [])
        # A page of one: the second mint, with a next page.
        second = workbench.mints(src, p, page=2, size=1)
        assert len(second.items) == 1 and second.more and second.pages == 3
        # Only tasks of another neighbourhood: none.
        assert workbench.mints(src, p, neighbourhood="Elders").count == 0

        reds = workbench.redemptions(src, p, shop="bakker")
        assert (reds.count, reds.units) == (2, REDEEMED)
        by_id = {r.redemption.redemption_id: r for r in reds.items}
        paid = by_id[year["settled_id"]]
        assert (paid.batch_id, paid.chain_batch, paid.shop) == (year["batch"],) * 2 + ("bakker",)
        assert paid.end_to_end_id == f"{year['batch']}-01"
        assert paid.booking is not None
        assert (paid.booking.cents, paid.booking.booked_on) == (SETTLED_CENTS, _today())
        assert by_id[year["open_id"]].batch_id is None
        assert by_id[year["open_id"]].chain_batch is None

        batches = workbench.settlements(src, p)
        assert [s.batch_id for s in batches.items] == [year["batch"]]
        line = batches.items[0]
        assert line.differences == []
        assert line.figures.chain is not None and line.figures.chain.total_units == 1500
        assert line.figures.bank_cents == SETTLED_CENTS

        # A day before the year: nothing in it.
        yesterday = datetime.now(UTC) - timedelta(days=1)
        before = workbench.period(None, yesterday.astimezone(AMSTERDAM).date(), yesterday)
        empty = workbench.totals(src, workbench.Period(before.last, before.last))
        assert empty.row("minted").mirror == 0 and empty.row("minted").chain == 0


def test_a_wrong_outbox_label_does_not_fool_the_resolution(
    module_stack: Stack, year: dict[str, Any]
) -> None:
    """The outbox says aud-1's mint is task aud-2's: the recomputed reference still finds
    aud-1 (labels are only a hint)."""
    with workbench.open_sources(module_stack.data_dir, module_stack.rpc_url) as src:
        ids = {ref: task_id for task_id, ref in service_reads.task_keys(src.db) if ref in REWARDS}
        refs = {workbench.reference_of(ids[r], r): r for r in REWARDS}
        wrong = {next(k for k, v in refs.items() if v == "aud-1"): ids["aud-2"]}

        real = service_reads.mint_labels
        service_reads.mint_labels = lambda db, r: wrong  # type: ignore[assignment]
        try:
            found = workbench.resolve(src.db, set(refs))
        finally:
            service_reads.mint_labels = real
        assert {refs[k]: v for k, v in found.items()} == ids
        assert workbench.resolve(src.db, {"0x" + "00" * 32}) == {}


def _check_pack(path: Path, stack: Stack, p: workbench.Period) -> dict[str, bytes]:
    """The pack's files; SHA256SUMS holds for each, and its CSV sums equal the chain's."""
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    listed = {}
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert set(listed) == set(files) - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name

    def column(name: str, col: str) -> list[str]:
        return [row[col] for row in csv.DictReader(io.StringIO(files[name].decode()))]

    period = json.loads(files["period.json"])
    through = period["blocks"]["through"]
    token = stack.token
    assert sum(map(int, column("mints.csv", "amount_units"))) == token.total_minted(through)
    assert sum(map(int, column("redemptions.csv", "amount_units"))) == token.total_redeemed(through)
    assert sum(map(int, column("settlements.csv", "ledger_cents"))) == SETTLED_CENTS
    assert sorted(column("mints.csv", "task")) == sorted(REWARDS)
    batches = column("settlements.csv", "batch_id")
    assert [f"files/{b}.xml" in files for b in batches] == [True]
    assert "deployment.json" in files and "audit.json" in files and "verify.json" in files
    assert column("redemptions.csv", "booked_cents").count(str(SETTLED_CENTS)) == 1
    assert column("bank_bookings.csv", "outcome") == ["paid"]
    # The bank's file itself, as read in: named by its SHA-256, which its lines name too.
    (sha,) = set(column("bank_bookings.csv", "file_sha256"))
    assert hashlib.sha256(files[f"bank/{sha}.xml"]).hexdigest() == sha
    assert b"STMT-AUD" in files[f"bank/{sha}.xml"]
    return files


CAST = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "cast"


def _cast(*args: str) -> str:
    done = subprocess.run([str(CAST), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _check_with_cast(files: dict[str, bytes], stack: Stack) -> None:
    """The checks of docs/evidence.md, with `cast` as an accountant runs them."""
    period = json.loads(files["period.json"])
    token, through = period["token"], str(period["blocks"]["through"])
    rpc = ["--block", through, "--rpc-url", stack.rpc_url]
    minted = _cast("call", token, "totalMinted()(uint256)", *rpc).split()[0]
    mints = list(csv.DictReader(io.StringIO(files["mints.csv"].decode())))
    assert int(minted) == sum(int(m["amount_units"]) for m in mints)
    for m in mints:
        assert _cast("keccak", f"heitje-task:{m['task_id']}:{m['task']}") == m["task_ref"]
    assert _cast("call", token, "isTaskRewarded(bytes32)(bool)", mints[0]["task_ref"], *rpc) == (
        "true"
    )
    (batch,) = csv.DictReader(io.StringIO(files["settlements.csv"].decode()))
    key = _cast("format-bytes32-string", batch["batch_id"])
    record = _cast(
        "call", token,
        "settlement(bytes32)((bytes32,uint64,uint32,uint32,uint64,bool,uint256,uint256))",
        key, *rpc,
    )  # fmt: skip
    assert batch["file_sha256"] in record and f", {SETTLED_CENTS}" in record
    reds = list(csv.DictReader(io.StringIO(files["redemptions.csv"].decode())))
    paid = next(r for r in reds if r["batch_id"])
    of = _cast("call", token, "settlementOf(uint256)(bytes32)", paid["redemption_id"], *rpc)
    assert _cast("parse-bytes32-string", of) == batch["batch_id"]


def _check_with_tools(zip_path: Path, folder: Path) -> None:
    """docs/evidence.md's `sha256sum -c` and sqlite3 `.import` sums, on the unpacked pack."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("sha256sum", "-c", "SHA256SUMS")
    sums = run(
        "sqlite3", ":memory:", "-cmd", ".mode csv", "-cmd", ".import mints.csv mints",
        "-cmd", ".import redemptions.csv redemptions",
        "-cmd", ".import settlements.csv settlements",
        "SELECT SUM(CAST(amount_units AS INTEGER)) FROM mints;"
        " SELECT SUM(CAST(amount_units AS INTEGER)) FROM redemptions;"
        " SELECT SUM(CAST(ledger_cents AS INTEGER)), SUM(CAST(file_cents AS INTEGER)),"
        " SUM(CAST(chain_cents AS INTEGER)) FROM settlements;",
    )  # fmt: skip
    settled = ",".join([str(SETTLED_CENTS)] * 3)
    assert sums.split() == [str(MINTED), str(REDEEMED), settled]


def test_the_evidence_pack_checks_out(
    module_stack: Stack, year: dict[str, Any], tmp_path: Path
) -> None:
    p = _period()
    with workbench.open_sources(module_stack.data_dir, module_stack.rpc_url) as src:
        pack = evidence.build(
            src, p, tmp_path / "pack.zip", audit=None, verify=None, made_at=datetime.now(UTC)
        )
    files = _check_pack(pack.path, module_stack, p)
    assert b"not given" in files["audit.json"]
    _check_with_cast(files, module_stack)
    _check_with_tools(pack.path, tmp_path / "pack")
    # The command line writes a pack too, with the audit's report in it.
    out = tmp_path / "cli.zip"
    done = run_heitje(
        "evidence",
        "--data-dir", str(module_stack.data_dir), "--rpc-url", module_stack.rpc_url,
        "--from", p.first.isoformat(), "--to", p.last.isoformat(), "--out", str(out),
        "--no-verify",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = _check_pack(out, module_stack, p)
    assert b'"reconciled": true' in files["audit.json"]


def _log_in(page: Page, url: str, username: str, password: str, target: str) -> None:
    page.goto(url + target)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()


def _fits_the_phone(page: Page) -> None:
    """Nothing sticks out sideways at 390 px: wide tables scroll inside their own region."""
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ' '
                + Math.round(e.getBoundingClientRect().right))"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 391, wide


@browser_test
def test_an_auditor_works_through_the_pages(
    module_stack: Stack, year: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    url, api = module_stack.api_url, year["api"]
    today = _today()
    shots = Path("/tmp/shots/audit")
    for locale, lang in (("nl-NL", "nl"), ("en-GB", "en")):
        context = phone_context(browser, locale)
        page = context.new_page()
        _log_in(page, url, "audra", api.passwords["audra"], "/office/audit")
        expect(page.locator("#totals")).to_be_visible()
        for key in ("minted", "redeemed", "supply", "settled"):
            expect(page.locator(f"#row-{key}")).to_have_attribute("data-agrees", "yes")
        amount = "35,00" if lang == "nl" else "35.00"
        expect(page.locator("#row-minted [data-source=chain]")).to_have_text(amount)
        expect(page.locator("#row-minted [data-source=mirror]")).to_have_text(amount)
        assert axe_violations(page) == [], lang
        _fits_the_phone(page)
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"totals-{lang}.png"), full_page=True)
        # The lists, reached by their links.
        page.locator("#audit-lists a[href^='/office/audit/mints']").click()
        item = page.locator("#mints li", has_text="Paint waste bin aud-2")
        expect(item.locator(".heitje-approver")).to_contain_text("coco")
        photo = page.request.get(
            url + str(item.locator("a[href*='/proof/']").get_attribute("href"))
        )
        assert photo.status == 200 and photo.headers["content-type"] == "image/jpeg"
        assert axe_violations(page) == [], lang
        _fits_the_phone(page)
        page.screenshot(path=str(shots / f"mints-{lang}.png"), full_page=True)
        page.locator("#audit-lists a[href^='/office/audit/redemptions']").click()
        expect(page.locator(f"#redemption-{year['settled_id']} .heitje-batch")).to_contain_text(
            year["batch"]
        )
        assert axe_violations(page) == [], lang
        _fits_the_phone(page)
        page.screenshot(path=str(shots / f"redemptions-{lang}.png"), full_page=True)
        page.locator("#audit-lists a[href^='/office/audit/settlements']").click()
        expect(page.locator(f"#batch-{year['batch']} .heitje-result")).to_have_text(
            "Klopt" if lang == "nl" else "Agrees"
        )
        assert axe_violations(page) == [], lang
        _fits_the_phone(page)
        page.screenshot(path=str(shots / f"settlements-{lang}.png"), full_page=True)
        # A last day before the first: said next to the field, what was typed kept.
        page.goto(f"{url}/office/audit?from={today}&until=2020-01-01")
        expect(page.locator("#until-error")).to_be_visible()
        expect(page.locator("#from")).to_have_value(today)
        assert axe_violations(page) == [], lang
        context.close()
    # Finance sees the workbench, not the evidence pack (it holds the staff log).
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "fien", api.passwords["fien"], "/office/audit")
    expect(page.locator("#totals")).to_be_visible()
    expect(page.locator("#evidence")).to_have_count(0)
    response = page.goto(url + "/office/audit/evidence.zip")
    assert response is not None and response.status == 403
    context.close()
    # The evidence pack, downloaded by the auditor: checked and in the staff log.
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "audra", api.passwords["audra"], "/office/audit")
    expect(page.locator("#evidence")).to_be_visible()
    with page.expect_download(timeout=300_000) as download:
        page.locator("#evidence").click()
    target = tmp_path / "download.zip"
    download.value.save_as(target)
    files = _check_pack(target, module_stack, _period())
    assert b'"reconciled": true' in files["audit.json"]
    log = sqlite3.connect(f"file:{module_stack.data_dir / 'service.sqlite'}?mode=ro", uri=True)
    try:
        rows = log.execute(
            "SELECT actor, subject FROM staff_log WHERE action = 'evidence.download'"
        ).fetchall()
    finally:
        log.close()
    assert ("audra", f"{_period().first.isoformat()}..{today}") in rows
    screenshot(page, "audit-evidence", tmp_path)
    context.close()
    # A coordinator may not look: 403.
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "cora", api.passwords["cora"], "/")
    for path in ("/office/audit", "/office/audit/mints", "/office/audit/evidence.zip"):
        response = page.goto(url + path)
        assert response is not None and response.status == 403, path
    expect(page.locator("#forbidden")).to_be_visible()
    context.close()
