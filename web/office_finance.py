"""Finance's pages (issue 11, item 4): `/office/settlement` (what is waiting per shop, held
payees, run a settlement, the history of runs with their pain.001 and CSV files) and
`/office/bank` (read the bank's camt.053 statement or pain.002 status report in, see what
matched and what did not).

A run is the same code as `heitje settle` (`domain.settlement.run_settlement`, with anchoring
on chain), done in the request (it takes seconds). Files are served to finance and auditors
only, found by batch id in the ledger (never a path from the request). Every action goes in
the staff log in its own transaction (`domain.settlement.office`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response

from domain.settlement import office as finance
from domain.settlement.bank import MAX_BANK_FILE_BYTES, NOT_MATCHED, BankImport
from heitje.errors import HeitjeError, Refused
from web import i18n
from web.forms import PageCtx
from web.i18n import N_
from web.office_common import Staff, check_csrf, office_session
from web.templating import language_of, render

router = APIRouter(include_in_schema=False)

TIMEZONE = ZoneInfo("Europe/Amsterdam")
FINANCE = ("finance",)
FILE_READERS = ("finance", "auditor")

VERSIONS = (
    ("09", N_("pain.001.001.09 (2019, with structured addresses; most banks)")),
    ("03", N_("pain.001.001.03 (2009; only for a bank that still asks for it)")),
)
"""The pain.001 versions the run form offers: (setting value, message id)."""

ERRORS = {
    "invalid_date": N_("Give a day, for example 31-03-2027."),
    "date_in_future": N_("This day has not ended yet. Choose today or an earlier day."),
    "invalid_pain_version": N_("Choose one of the two versions."),
    "municipality_not_set": N_(
        "The municipality's bank account is not set (HEITJE_MUNICIPALITY_NAME and"
        " HEITJE_MUNICIPALITY_IBAN). Ask the operator to set it."
    ),
    "no_file": N_("Choose a file from the bank."),
    "file_too_large": N_("This file is too large."),
    "invalid_bank_file": N_(
        "This is not a bank statement (camt.053) or status report (pain.002) we can read."
    ),
    "run_failed": N_("The settlement did not go through. Nothing was paid. The reason: %(reason)s"),
}
"""Error code -> message id (a form's field errors and the page's error)."""

OUTCOMES = {
    "paid": N_("Paid: the shop sees the day"),
    "paid_twice": N_("Paid twice: the bank booked this payment before"),
    "wrong_account": N_("Not from the municipality's own bank account"),
    "iban_differs": N_("Paid to another bank account than in the payment file"),
    "accepted": N_("Accepted by the bank"),
    "rejected": N_("Rejected by the bank"),
    "unknown": N_("Unknown: no payment of ours"),
    "amount_differs": N_("Amount differs from our payment"),
    "not_booked": N_("Not booked yet"),
    "returned": N_("Money came back"),
    "duplicate": N_("Already read in from another file"),
}
"""A bank line's outcome (`domain.settlement.bank`) -> message id."""


def _today() -> date:
    return datetime.now(TIMEZONE).date()


def _day(text: str | None, language: str) -> str:
    if not text:
        return ""
    try:
        return i18n.format_day(date.fromisoformat(text[:10]), language)
    except ValueError:
        return text


def _settlement_page(
    request: Request,
    ctx: Any,
    staff: Staff,
    *,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    error: str | None = None,
    error_text: str | None = None,
    done: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    language = language_of(request)
    runs = finance.history(ctx)
    return render(
        request,
        "office/finance_settlement.html",
        status=status,
        title=N_("Settlement"),
        user=staff.caller,
        csrf_token=staff.csrf,
        waiting=finance.waiting(ctx),
        held=finance.held(ctx),
        runs=runs,
        day=lambda text: _day(text, language),
        ready=finance.municipality_ready(ctx),
        versions=VERSIONS,
        typed=typed
        or {"through": _today().isoformat(), "pain_version": ctx.settings.sepa_pain_version},
        field_errors=field_errors or {},
        errors=ERRORS,
        error=error,
        error_text=error_text,
        done=done,
    )


@router.get("/office/settlement")
def settlement_page(
    request: Request,
    ctx: PageCtx,
    batch: Annotated[str, Query(max_length=40)] = "",
    nothing: Annotated[str, Query(max_length=8)] = "",
    unanchored: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """Finance's settlement page: redemptions waiting per shop (shop, count, euros, whether it
    can be paid), shops held with why, the run form (day up to which, pain.001 version) and
    the history of runs with their files. `batch` (a batch id of the ledger) shows that run's
    result (`unanchored`: not yet recorded on chain); `nothing` says the last run found nothing
    to pay."""
    staff = office_session(request, ctx, FINANCE)
    if not isinstance(staff, Staff):
        return staff
    done: dict[str, Any] | None = None
    if batch:
        run = next(
            (r for r in finance.history(ctx, check_chain=False) if r.batch_id == batch), None
        )
        if run is not None:
            done = {
                "batch_id": run.batch_id,
                "total_cents": run.total_cents,
                "shops": run.payments,
                "unanchored": bool(unanchored),
            }
    elif nothing:
        done = {"batch_id": None}
    return _settlement_page(request, ctx, staff, done=done)


@router.post("/office/settlement")
def settlement_run(
    request: Request,
    ctx: PageCtx,
    through: Annotated[str, Form(max_length=40)] = "",
    pain_version: Annotated[str, Form(max_length=8)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Run a settlement (finance only): every redemption up to the end of day `through` (Dutch
    time, not after today) not paid yet, in a pain.001 of `pain_version` ("09" or "03"),
    recorded on chain. Done: 303 to the page showing the run. A field in error: the page with
    the error next to it, nothing run; a run refused (chain, mirror, settings): the page with
    the reason, nothing paid."""
    staff = office_session(request, ctx, FINANCE)
    if not isinstance(staff, Staff):
        return staff
    check_csrf(request, csrf)
    typed = {"through": through, "pain_version": pain_version}
    problems: dict[str, str] = {}
    try:
        day = date.fromisoformat(through.strip())
    except ValueError:
        problems["through"] = "invalid_date"
    else:
        if day > _today():
            problems["through"] = "date_in_future"
    if pain_version not in dict(VERSIONS):
        problems["pain_version"] = "invalid_pain_version"
    if problems:
        return _settlement_page(request, ctx, staff, typed=typed, field_errors=problems, status=422)
    if not finance.municipality_ready(ctx):
        return _settlement_page(
            request, ctx, staff, typed=typed, error=ERRORS["municipality_not_set"], status=409
        )
    end = datetime.combine(day + timedelta(days=1), time(0), TIMEZONE) - timedelta(seconds=1)
    try:
        result = finance.run(ctx, staff.caller, through=end, pain_version=pain_version)
    except HeitjeError as e:
        language = language_of(request)
        reason = finance.describe_error(e)
        text = i18n.gettext(language, ERRORS["run_failed"]) % {"reason": reason}
        status = e.http_status if isinstance(e, Refused) else 409
        return _settlement_page(
            request, ctx, staff, typed=typed, error_text=text, status=max(400, min(status, 503))
        )
    if result.get("batch_id"):
        query = {"batch": result["batch_id"]}
        if result.get("anchor_error"):
            query["unanchored"] = "1"
        return RedirectResponse(f"/office/settlement?{urlencode(query)}", status_code=303)
    return RedirectResponse("/office/settlement?nothing=1", status_code=303)


@router.get("/office/settlement/{batch_id}/{kind}")
def settlement_file(request: Request, ctx: PageCtx, batch_id: str, kind: str) -> Response:
    """A run's pain.001 XML (`kind` "pain.001.xml") or CSV summary (`kind` "summary.csv"), for
    finance and auditors; the file found by batch id in the ledger. 404 for anything else."""
    staff = office_session(request, ctx, FILE_READERS)
    if not isinstance(staff, Staff):
        return staff
    kinds = {"pain.001.xml": ("xml", "application/xml"), "summary.csv": ("csv", "text/csv")}
    if kind not in kinds:
        raise Refused(404, "batch_not_found", "no such settlement file")
    ext, media = kinds[kind]
    path = finance.batch_file(ctx, staff.caller, batch_id, ext)
    return FileResponse(
        path,
        media_type=media,
        filename=path.name,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _bank_page(
    request: Request,
    ctx: Any,
    staff: Staff,
    *,
    field_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    language = language_of(request)
    return render(
        request,
        "office/finance_bank.html",
        status=status,
        title=N_("Bank statements"),
        user=staff.caller,
        csrf_token=staff.csrf,
        files=finance.bank_files(ctx),
        day=lambda text: _day(text, language),
        field_errors=field_errors or {},
        errors=ERRORS,
        max_mib=max(1, min(MAX_BANK_FILE_BYTES, ctx.settings.max_body_bytes) // (1024 * 1024)),
    )


@router.get("/office/bank")
def bank_page(request: Request, ctx: PageCtx) -> Response:
    """Finance's bank page: the form to read a camt.053 or pain.002 file in, and the files
    read in so far."""
    staff = office_session(request, ctx, FINANCE)
    if not isinstance(staff, Staff):
        return staff
    return _bank_page(request, ctx, staff)


@router.post("/office/bank")
def bank_import(
    request: Request,
    ctx: PageCtx,
    statement: Annotated[UploadFile | None, File()] = None,
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Read a bank file in (finance only; multipart field `statement`, at most
    `MAX_BANK_FILE_BYTES` and the request body limit): the result page with the payments
    marked paid and the lines that do not match. A file read in before changes nothing (the
    page says so). Bad file: the form with the error next to the field, nothing changed."""
    staff = office_session(request, ctx, FINANCE)
    if not isinstance(staff, Staff):
        return staff
    check_csrf(request, csrf)
    if statement is None or not statement.filename:
        return _bank_page(request, ctx, staff, field_errors={"statement": "no_file"}, status=422)
    data = statement.file.read(MAX_BANK_FILE_BYTES + 1)
    if len(data) > MAX_BANK_FILE_BYTES:
        return _bank_page(
            request, ctx, staff, field_errors={"statement": "file_too_large"}, status=413
        )
    if not data:
        return _bank_page(request, ctx, staff, field_errors={"statement": "no_file"}, status=422)
    try:
        result = finance.import_file(ctx, staff.caller, data, statement.filename)
    except HeitjeError as e:
        if e.code != "invalid_bank_file":
            raise
        return _bank_page(
            request, ctx, staff, field_errors={"statement": "invalid_bank_file"}, status=422
        )
    return _bank_result(request, staff, result, statement.filename)


def _bank_result(request: Request, staff: Staff, result: BankImport, file_name: str) -> Response:
    language = language_of(request)
    return render(
        request,
        "office/finance_bank_result.html",
        title=N_("Bank file read in"),
        user=staff.caller,
        csrf_token=staff.csrf,
        result=result,
        file_name=file_name,
        matched=[line for line in result.lines if line.outcome not in NOT_MATCHED],
        unmatched=result.unmatched,
        outcomes=OUTCOMES,
        day=lambda text: _day(text, language),
    )
