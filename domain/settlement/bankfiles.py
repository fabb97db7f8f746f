"""Reading the bank's files (`domain.settlement.bank`): camt.053 statements and pain.002
status reports, any namespace version (camt.053.001.02 to .08, pain.002.001.03 to .10), with
lxml hardened against hostile input: at most `MAX_BANK_FILE_BYTES`, no DOCTYPE (so no entities
and no external DTD), no network, no huge trees."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from lxml import etree

from domain.settlement.sepa import InvalidPain001, decimal_to_cents
from heitje.errors import InvalidInput

MAX_BANK_FILE_BYTES = 16 * 1024 * 1024
"""Largest bank file read (a month of a municipality's statement is far smaller)."""
_NS = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:((camt\.053|pain\.002)\.001\.(\d\d))$")
_E2E_NONE = {"", "NOTPROVIDED"}


class InvalidBankFile(InvalidInput):
    """The file is not a camt.053 statement or pain.002 status report this service reads:
    too large, not well-formed XML, a DOCTYPE (entities), another message, or a line without
    a readable amount or status."""

    code = "invalid_bank_file"


@dataclass(frozen=True)
class BankLine:
    """One booking (camt.053 entry or its transaction detail) or status (pain.002) of a file:
    the bank's `entry_ref`, `end_to_end_id` (None when none), `batch_ref` (the batch the bank
    names: camt.053 Btch/PmtInfId or MsgId, pain.002 OrgnlMsgId), amount in euro `cents` and
    `currency` (None when the line gives none), `direction` (DBIT/CRDT, camt.053 only),
    `status` (BOOK, PDNG, INFO; ACCP, ACSC, RJCT, ...), `reason` code and `booking_date`
    (ISO, camt.053)."""

    entry_ref: str | None
    end_to_end_id: str | None
    batch_ref: str | None
    cents: int | None
    currency: str | None
    direction: str | None
    status: str
    reason: str = ""
    booking_date: str | None = None
    account_iban: str | None = None
    """camt.053: the statement's own account (Stmt/Acct/Id/IBAN), the account money left."""
    creditor_iban: str | None = None
    """camt.053: the account it went to (TxDtls/RltdPties/CdtrAcct/Id/IBAN), when given."""


@dataclass(frozen=True)
class BankFile:
    """A parsed bank file: `kind` ("camt.053", "pain.002"), its ISO 20022 `message`
    ("camt.053.001.08"), its MsgId and lines in file order."""

    kind: str
    message: str
    message_id: str
    lines: list[BankLine]


def read_bank_file(data: bytes) -> BankFile:
    """Parse a camt.053 statement or pain.002 status report (see the module doc). Raises
    `InvalidBankFile`."""
    if len(data) > MAX_BANK_FILE_BYTES:
        raise InvalidBankFile(
            f"the file has {len(data)} bytes; at most {MAX_BANK_FILE_BYTES} are read"
        )
    root = _parse(data)
    tag = str(root.tag)
    ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
    m = _NS.match(ns)
    if m is None or etree.QName(root).localname != "Document":
        raise InvalidBankFile(
            f"not a camt.053 statement or pain.002 status report (namespace {ns or 'none'!r})"
        )
    message, kind = m.group(1), m.group(2)
    if kind == "camt.053":
        return BankFile(kind, message, *_camt053(root))
    return BankFile(kind, message, *_pain002(root))


def _parse(data: bytes) -> Any:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except (etree.XMLSyntaxError, ValueError) as e:
        raise InvalidBankFile(f"not well-formed XML: {e}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise InvalidBankFile("the file declares a DOCTYPE (entities are refused)")
    return tree.getroot()


def _t(node: Any, path: str) -> str | None:
    """Stripped text at `path` (any namespace), or None."""
    found = node.find(path)
    if found is None or found.text is None:
        return None
    return str(found.text).strip() or None


def _amount(node: Any, path: str) -> tuple[int | None, str | None]:
    found = node.find(path)
    if found is None or found.text is None:
        return None, None
    try:
        cents = decimal_to_cents(str(found.text))
    except InvalidPain001 as e:
        raise InvalidBankFile(f"amount {found.text!r}: {e.message}") from None
    return cents, found.get("Ccy")


def _e2e(node: Any, path: str) -> str | None:
    text = _t(node, path)
    return None if text is None or text.upper() in _E2E_NONE else text


def _camt053(root: Any) -> tuple[str, list[BankLine]]:
    body = root.find("{*}BkToCstmrStmt")
    if body is None:
        raise InvalidBankFile("a camt.053 document without BkToCstmrStmt")
    message_id = _t(body, "{*}GrpHdr/{*}MsgId") or ""
    lines: list[BankLine] = []
    entries = [
        (entry, _t(stmt, "{*}Acct/{*}Id/{*}IBAN"))
        for stmt in body.iterfind("{*}Stmt")
        for entry in stmt.iterfind("{*}Ntry")
    ]
    for entry, account in entries:
        cents, currency = _amount(entry, "{*}Amt")
        if cents is None:
            raise InvalidBankFile("a statement entry without an amount")
        direction = _t(entry, "{*}CdtDbtInd")
        status = _t(entry, "{*}Sts/{*}Cd") or _t(entry, "{*}Sts") or ""
        if not status:
            raise InvalidBankFile("a statement entry without a status")
        day = _t(entry, "{*}BookgDt/{*}Dt") or (_t(entry, "{*}BookgDt/{*}DtTm") or "")[:10]
        ref = _t(entry, "{*}AcctSvcrRef") or _t(entry, "{*}NtryRef")
        batch_ref = None
        details = entry.findall("{*}NtryDtls")
        txs = [tx for d in details for tx in d.iterfind("{*}TxDtls")]
        for d in details:
            batch_ref = batch_ref or _t(d, "{*}Btch/{*}PmtInfId") or _t(d, "{*}Btch/{*}MsgId")
        with_e2e = [tx for tx in txs if _e2e(tx, "{*}Refs/{*}EndToEndId")]
        base = BankLine(
            ref, None, batch_ref, cents, currency, direction, status, "", day or None, account
        )
        if not with_e2e:
            lines.append(base)
            continue
        for tx in with_e2e:
            tx_cents, tx_currency = _amount(tx, "{*}Amt")  # camt.053.001.08
            if tx_cents is None:
                tx_cents, tx_currency = _amount(tx, "{*}AmtDtls/{*}TxAmt/{*}Amt")
            if tx_cents is None:
                tx_cents, tx_currency = _amount(tx, "{*}AmtDtls/{*}InstdAmt/{*}Amt")
            if tx_cents is None and len(txs) == 1:
                tx_cents, tx_currency = cents, currency
            lines.append(
                replace(
                    base,
                    end_to_end_id=_e2e(tx, "{*}Refs/{*}EndToEndId"),
                    cents=tx_cents,
                    currency=tx_currency,
                    direction=_t(tx, "{*}CdtDbtInd") or direction,
                    entry_ref=_t(tx, "{*}Refs/{*}AcctSvcrRef") or ref,
                    creditor_iban=_t(tx, "{*}RltdPties/{*}CdtrAcct/{*}Id/{*}IBAN"),
                )
            )
    return message_id, lines


def _pain002(root: Any) -> tuple[str, list[BankLine]]:
    body = root.find("{*}CstmrPmtStsRpt")
    if body is None:
        raise InvalidBankFile("a pain.002 document without CstmrPmtStsRpt")
    message_id = _t(body, "{*}GrpHdr/{*}MsgId") or ""
    original = _t(body, "{*}OrgnlGrpInfAndSts/{*}OrgnlMsgId")
    group_status = _t(body, "{*}OrgnlGrpInfAndSts/{*}GrpSts")
    group_reason = _t(body, "{*}OrgnlGrpInfAndSts/{*}StsRsnInf/{*}Rsn/{*}Cd") or ""
    lines: list[BankLine] = []
    for pmt in body.iterfind("{*}OrgnlPmtInfAndSts"):
        pmt_status = _t(pmt, "{*}PmtInfSts") or group_status
        pmt_reason = _t(pmt, "{*}StsRsnInf/{*}Rsn/{*}Cd") or group_reason
        txs = pmt.findall("{*}TxInfAndSts")
        for tx in txs:
            status = _t(tx, "{*}TxSts") or pmt_status
            if not status:
                raise InvalidBankFile("a transaction status without TxSts")
            cents, currency = _amount(tx, "{*}OrgnlTxRef/{*}Amt/{*}InstdAmt")
            lines.append(
                BankLine(
                    original,
                    _e2e(tx, "{*}OrgnlEndToEndId"),
                    original,
                    cents,
                    currency,
                    None,
                    status,
                    _t(tx, "{*}StsRsnInf/{*}Rsn/{*}Cd") or pmt_reason,
                )
            )
        if not txs and pmt_status:
            lines.append(BankLine(original, None, original, None, None, None, pmt_status))
    if not lines and group_status:
        lines.append(BankLine(original, None, original, None, None, None, group_status, "", None))
    if not lines:
        raise InvalidBankFile("a pain.002 status report without any status")
    return message_id, lines
