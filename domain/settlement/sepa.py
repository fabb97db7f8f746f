"""SEPA for settlement (`domain.settlement.batch`): build, validate and parse pain.001.

ISO 20022 "Customer Credit Transfer Initiation" in two versions (`PAIN_VERSIONS`):
pain.001.001.09 (the 2019 version, the default: the EPC rejects unstructured-only addresses from
15 November 2026, and .09 carries structured ones, `PostalAddress`) and pain.001.001.03 (the 2009
version, still selectable for a bank that needs it). The document is built with sepaxml
(`SepaTransfer`, schema chosen by version), then given deterministic identifiers (MsgId,
PmtInfId, CreDtTm instead of sepaxml's random ones and the wall clock) and validated once, with
lxml against the XSD of its version that sepaxml ships, on the exact bytes that get written
(sepaxml's own check, xmlschema, would validate the same document again before our identifiers
are in, building its schema each time: 0.1-0.3 s a file).
Reading back (`parse_pain001`, `validate_pain001`) takes either version, told by the namespace.

Amounts are integer euro cents (`EuroCents`); decimal text is parsed digit by digit, never floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sepaxml
from lxml import etree
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer

from domain.settlement.sepatext import DEFAULT_PAIN_VERSION as DEFAULT_PAIN_VERSION
from domain.settlement.sepatext import PAIN_VERSIONS as PAIN_VERSIONS
from domain.settlement.sepatext import PostalAddress as PostalAddress
from domain.settlement.sepatext import pain_message as pain_message
from domain.settlement.sepatext import postal_address as postal_address
from domain.settlement.sepatext import sepa_text as sepa_text
from heitje.errors import HeitjeError, InvalidInput
from heitje.money import EuroCents

PAIN001 = PAIN_VERSIONS["03"]
"""The 2009 version (kept selectable)."""
NS = f"urn:iso:std:iso:20022:tech:xsd:{PAIN001}"
XSD_PATH = Path(sepaxml.__file__).parent / "schemas" / f"{PAIN001}.xsd"
_NAMESPACES = {f"urn:iso:std:iso:20022:tech:xsd:{name}": name for name in PAIN_VERSIONS.values()}

_AMOUNT = re.compile(r"^([0-9]+)(?:\.([0-9]{1,5}))?$")  # xs:decimal, fractionDigits 5 (XSD)


class InvalidPain001(HeitjeError, ValueError):
    """A pain.001 document (.09 or .03) does not validate or cannot be read as one."""

    code = "invalid_pain001"


@dataclass(frozen=True)
class Account:
    """A party's name and account: IBAN (compact, upper case), BIC (None = IBAN-only) and its
    structured postal address (None = none known: the file then carries none)."""

    name: str
    iban: str
    bic: str | None
    address: PostalAddress | None = None


@dataclass(frozen=True)
class CreditTransfer:
    """One CdtTrfTxInf: `cents` > 0 euro cents to `creditor`, `remittance` at most 140 chars."""

    end_to_end_id: str
    creditor: Account
    cents: EuroCents
    remittance: str


@dataclass(frozen=True)
class ParsedTransfer:
    """A CdtTrfTxInf read back from a file: amount in euro cents, currency as written."""

    end_to_end_id: str
    creditor_iban: str
    creditor_name: str
    cents: int
    currency: str


@dataclass(frozen=True)
class ParsedDocument:
    """A pain.001 document read back: its message name (`version`, "pain.001.001.09"), group
    header figures and every transfer in order."""

    msg_id: str
    nb_of_txs: int
    ctrl_sum_cents: int
    transfers: list[ParsedTransfer]
    version: str = PAIN001


def compact_iban(iban: str, owner: str) -> str:
    """`iban` checked and compact ("nl39 asnb ..." -> "NL39ASNB..."). Raises `InvalidInput`
    (code `invalid_iban`) naming `owner`."""
    try:
        return str(IBAN(iban).compact)
    except SchwiftyException as e:
        raise InvalidInput(f"{owner}: IBAN {iban!r} is not valid: {e}", code="invalid_iban") from e


def compact_bic(bic: str, owner: str) -> str:
    """`bic` checked and normalised. Raises `InvalidInput` (code `invalid_bic`) naming `owner`."""
    try:
        return str(BIC(bic))
    except SchwiftyException as e:
        raise InvalidInput(f"{owner}: BIC {bic!r} is not valid: {e}", code="invalid_bic") from e


# Territories whose banks use another country's IBAN (or BIC) prefix: a BIC and an IBAN of the
# same group are not a country mismatch.
_SAME_BANKING_COUNTRY = (
    frozenset({"FR", "MC", "GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"}),
    frozenset({"GB", "JE", "GG", "IM"}),
    frozenset({"FI", "AX"}),
)


def _same_country(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _SAME_BANKING_COUNTRY)


def sepa_name(name: str, owner: str) -> str:
    """`name` in the EPC basic Latin set, at most 70 characters (`sepa_text`). Raises
    `InvalidInput` (code `invalid_payee_name`) naming `owner` when no letter or digit is left
    ("🍰🍰🍰", "???")."""
    text = sepa_text(name, 70)
    if not any(c.isascii() and c.isalnum() for c in text):
        raise InvalidInput(
            f"{owner}: the name {name!r} has no letters or digits that a SEPA transfer can carry"
            " (after transliteration to the EPC basic Latin set)",
            code="invalid_payee_name",
        )
    return text


def check_creditor(name: str, iban: str, bic: str | None, owner: str) -> Account:
    """A SEPA creditor (payee) as it goes into a pain.001 file, checked with schwifty:

    - IBAN (ISO 13616 checksum and country format, spaces and case ignored) in the SEPA zone;
    - BIC (ISO 9362, if given) valid and, where schwifty's bank registry can tell, of the
      IBAN's bank (same institution code and country as a BIC registered for the IBAN's bank
      code, or the IBAN's bank code registered for the BIC); else at least of the IBAN's
      country (territories banking under another country's prefix allowed);
    - name transliterated to the EPC basic Latin set (`sepa_name`).

    Returns the `Account` (transliterated name, compact IBAN, normalised BIC or None). Raises
    `InvalidInput` naming `owner`, code `invalid_iban`, `iban_not_sepa`, `invalid_bic`,
    `bic_mismatch` or `invalid_payee_name`.
    """
    compact = compact_iban(iban.replace(" ", "").upper(), owner)
    parsed = IBAN(compact)
    if not parsed.in_sepa_zone:
        raise InvalidInput(
            f"{owner}: IBAN {compact} is of {parsed.country_code}, outside the SEPA zone",
            code="iban_not_sepa",
        )
    checked_bic: str | None = None
    if bic is not None and bic.strip():
        checked_bic = compact_bic(bic.replace(" ", "").upper(), owner)
        if not _bic_fits(BIC(checked_bic), parsed):
            raise InvalidInput(
                f"{owner}: BIC {checked_bic} is not of the bank of IBAN {compact}",
                code="bic_mismatch",
            )
    return Account(sepa_name(name, owner), compact, checked_bic)


def _bic_fits(bic: BIC, iban: IBAN) -> bool:
    """True unless schwifty can tell that `bic` is not of `iban`'s bank (or country)."""
    bank_code = iban.bank_code
    if bank_code and bank_code in bic.domestic_bank_codes:
        return True
    candidates: list[BIC] = []
    if bank_code:
        try:
            candidates = list(BIC.candidates_from_bank_code(iban.country_code, bank_code))
        except SchwiftyException:
            candidates = []
    if candidates:
        return any(str(c)[:6] == str(bic)[:6] for c in candidates)
    return _same_country(bic.country_code, iban.country_code)


def debtor_bic(iban: str, bic: str | None) -> str:
    """The municipality's BIC, or the one schwifty derives from its IBAN."""
    if bic is not None:
        return compact_bic(bic, "municipality")
    derived = IBAN(iban).bic
    if derived is None:
        raise InvalidInput(
            f"municipality: no BIC given and none derivable from {iban}", code="invalid_bic"
        )
    return str(derived)


def build_pain001(
    *,
    msg_id: str,
    created_at: datetime,
    execution_date: date,
    debtor: Account,
    transfers: list[CreditTransfer],
    version: str = DEFAULT_PAIN_VERSION,
) -> bytes:
    """A validated pain.001 document (UTF-8 bytes) of `version` ("09" the default, or "03")
    paying `transfers` from `debtor`.

    One PmtInf (batch booking, service level SEPA, charges SLEV) with MsgId and PmtInfId both
    `msg_id` (at most 35 chars) and CreDtTm `created_at` to the second in its own wall-clock time.
    Structured postal addresses (StrtNm, BldgNb, PstCd, TwnNm, Ctry) of the debtor and of each
    creditor that has one (`Account.address`). `debtor.bic` must be given (sepaxml writes an
    empty FinInstnId otherwise, which the XSD accepts but EPC rules do not); a creditor without
    BIC gets no CdtrAgt (IBAN-only, allowed in SEPA). Raises `InvalidInput`
    (`invalid_pain_version`) for another version, `InvalidPain001` if the document fails the XSD
    (`validate_pain001`, lxml, on the final bytes; sepaxml's own xmlschema check of the same
    document is not run a second time).
    """
    schema = pain_message(version)
    if debtor.bic is None:
        raise InvalidPain001("the debtor needs a BIC")
    if not transfers:
        raise InvalidPain001("a pain.001 document needs at least one transfer")
    # sepaxml mutates both dicts (truncates names, turns the date into text): fresh ones each time.
    config: dict[str, Any] = {
        "name": sepa_text(debtor.name, 70),
        "IBAN": debtor.iban,
        "BIC": debtor.bic,
        "batch": True,  # required key: sepaxml raises KeyError without it
        "currency": "EUR",
    }
    if debtor.address is not None:
        config["address"] = debtor.address.as_sepaxml()
    sepa = SepaTransfer(config, schema=schema, clean=True)
    for transfer in transfers:
        if transfer.cents <= 0:  # sepaxml's CtrlSum parser fails on "0.00"; SEPA needs >= 0.01
            raise InvalidPain001(f"{transfer.end_to_end_id}: amount must be at least one cent")
        payment: dict[str, Any] = {
            "name": sepa_text(transfer.creditor.name, 70),
            "IBAN": transfer.creditor.iban,
            "amount": int(transfer.cents),
            "execution_date": execution_date,
            "description": sepa_text(transfer.remittance, 140),
            "endtoend_id": transfer.end_to_end_id,
        }
        if transfer.creditor.bic is not None:
            payment["BIC"] = transfer.creditor.bic
        if transfer.creditor.address is not None:
            payment["address"] = transfer.creditor.address.as_sepaxml()
        sepa.add_payment(payment)
    raw: bytes = sepa.export(validate=False)  # validated below, once, on the final bytes

    root = etree.fromstring(raw, _parser())
    ns = _ns(root)
    _set_text(root, "c:CstmrCdtTrfInitn/c:GrpHdr/c:MsgId", msg_id, ns)
    _set_text(
        root,
        "c:CstmrCdtTrfInitn/c:GrpHdr/c:CreDtTm",
        created_at.strftime("%Y-%m-%dT%H:%M:%S"),
        ns,
    )
    _set_text(root, "c:CstmrCdtTrfInitn/c:PmtInf/c:PmtInfId", msg_id, ns)
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    out = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
    validate_pain001(out)
    return out


def pain_version_of(xml: bytes) -> str:
    """The message name of a pain.001 document by its namespace ("pain.001.001.09"). Raises
    `InvalidPain001` when it is neither version (or not XML)."""
    root = _parse(xml)
    return _NAMESPACES[_ns(root)]


def validate_pain001(xml: bytes) -> None:
    """Validate `xml` with lxml against sepaxml's XSD of its version (.09 or .03, told by the
    namespace).

    Raises `InvalidPain001` listing the schema errors (or the parse error, or an unknown
    namespace).
    """
    root = _parse(xml)
    name = _NAMESPACES[_ns(root)]
    schema = _schema(name)
    if not schema.validate(root):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise InvalidPain001(f"not valid {name}: {errors}")


def parse_pain001(xml: bytes) -> ParsedDocument:
    """Read a pain.001 document (.09 or .03): header MsgId/NbOfTxs/CtrlSum and every
    CdtTrfTxInf.

    Does not check the XSD (see `validate_pain001`). Raises `InvalidPain001` if the root is not a
    pain.001.001.09 or .03 Document, a required element is missing or an amount is not whole
    cents.
    """
    root = _parse(xml)
    ns = _ns(root)
    if root.tag != f"{{{ns}}}Document":
        raise InvalidPain001(f"root element is {root.tag}, not a pain.001 Document")
    header = "c:CstmrCdtTrfInitn/c:GrpHdr/"
    transfers = [
        ParsedTransfer(
            end_to_end_id=_text(tx, "c:PmtId/c:EndToEndId", ns),
            creditor_iban=_text(tx, "c:CdtrAcct/c:Id/c:IBAN", ns),
            creditor_name=_text(tx, "c:Cdtr/c:Nm", ns),
            cents=decimal_to_cents(_text(tx, "c:Amt/c:InstdAmt", ns)),
            currency=str(_find(tx, "c:Amt/c:InstdAmt", ns).get("Ccy", "")),
        )
        for tx in root.iterfind("c:CstmrCdtTrfInitn/c:PmtInf/c:CdtTrfTxInf", {"c": ns})
    ]
    nb_text = _text(root, header + "c:NbOfTxs", ns)
    if not nb_text.isdigit():
        raise InvalidPain001(f"NbOfTxs {nb_text!r} is not a number")
    return ParsedDocument(
        msg_id=_text(root, header + "c:MsgId", ns),
        nb_of_txs=int(nb_text),
        ctrl_sum_cents=decimal_to_cents(_text(root, header + "c:CtrlSum", ns)),
        transfers=transfers,
        version=_NAMESPACES[ns],
    )


def decimal_to_cents(text: str) -> int:
    """Exact euro cents of a decimal amount text ("11.70" -> 1170, "5" -> 500, "0.500" -> 50).

    Raises `InvalidPain001` for signs, exponents, more than 5 decimals (the XSD limit) or a value
    that is not a whole number of cents ("1.005").
    """
    m = _AMOUNT.match(text.strip())
    if m is None:
        raise InvalidPain001(f"amount {text!r} is not a decimal")
    whole, frac = m.group(1), (m.group(2) or "")
    if frac[2:].strip("0"):
        raise InvalidPain001(f"amount {text!r} is not a whole number of cents")
    return int(whole) * 100 + int(frac[:2].ljust(2, "0"))


def _parser() -> Any:
    # Files are read back from disk: no entities, no network, no huge trees.
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


def _parse(xml: bytes) -> Any:
    try:
        return etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as e:
        raise InvalidPain001(f"not well-formed XML: {e}") from e


def _ns(root: Any) -> str:
    """The namespace of a pain.001 document's root; `InvalidPain001` when it is no version this
    module knows."""
    tag = str(root.tag)
    ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
    if ns not in _NAMESPACES:
        raise InvalidPain001(
            f"namespace {ns or '(none)'!r} is not one of {', '.join(PAIN_VERSIONS.values())}"
        )
    return ns


@lru_cache(maxsize=4)
def _schema(name: str = PAIN001) -> Any:
    return etree.XMLSchema(
        etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / f"{name}.xsd"))
    )


def _find(node: Any, path: str, ns: str = NS) -> Any:
    found = node.find(path, {"c": ns})
    if found is None:
        raise InvalidPain001(f"missing element {path.replace('c:', '')}")
    return found


def _text(node: Any, path: str, ns: str = NS) -> str:
    return str(_find(node, path, ns).text or "")


def _set_text(node: Any, path: str, value: str, ns: str = NS) -> None:
    _find(node, path, ns).text = value
