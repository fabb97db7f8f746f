"""The evidence pack download of the auditor's workbench: `/office/audit/evidence.zip`.

The pack (`domain.evidence`) holds the output of `heitje audit` and `heitje verify`, run here
side by side as child processes of the `heitje` command line on this service's data directory
and chain (with a time limit each; what did not finish in time is named in the pack). `heitje
verify` rebuilds the contract (about half a minute): its result depends only on the deployment
(the token cannot be upgraded), so a successful one is kept for the life of the process, per
manifest, with the time it ran. The download is recorded in the staff log
(`evidence.download`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from domain import evidence
from domain.context import Context
from domain.workbench import Period, Sources
from heitje.errors import Refused
from heitje.settings import Settings
from web.forms import PageCtx
from web.office_common import Staff, office_session

router = APIRouter(include_in_schema=False)

AUDIT_SECONDS = 120.0
VERIFY_SECONDS = 120.0

_verified: dict[str, dict[str, Any]] = {}
"""sha256 of a manifest -> its successful `heitje verify` report (see the module docstring)."""
_verified_lock = threading.Lock()


def verify_report(settings: Settings) -> dict[str, Any]:
    """`heitje verify` on this deployment (`command_report`), kept per manifest once it ran
    with exit code 0 or 1 (a match or a mismatch; a failure to run is tried again)."""
    manifest = settings.paths.manifest
    key = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else ""
    with _verified_lock:
        known = _verified.get(key)
    if known is not None:
        return known
    report = command_report(settings, "verify", VERIFY_SECONDS)
    report["ran_at"] = datetime.now(UTC).isoformat()
    if key and report.get("available") and report.get("exit_code") in (0, 1):
        with _verified_lock:
            _verified[key] = report
    return report


def command_report(settings: Settings, command: str, timeout: float) -> dict[str, Any]:
    """The JSON `heitje <command> --data-dir DIR --rpc-url URL` prints, with its exit code
    (`exit_code`, `stderr`), or why there is none (`available` false, `why`)."""
    args = [
        sys.executable, "-m", "scripts.cli", command,
        "--data-dir", str(settings.data_dir), "--rpc-url", settings.rpc_url,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEITJE_")}
    how = f"heitje {command} --data-dir {settings.data_dir} --rpc-url {settings.rpc_url}"
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"available": False, "why": f"did not finish within {timeout:.0f}s", "run": how}
    try:
        output = json.loads(done.stdout)
    except ValueError:
        output = None
    return {
        "available": output is not None,
        "command": how,
        "exit_code": done.returncode,
        "output": output,
        "stderr": done.stderr[-4000:],
    }


EVIDENCE_ROLES = ("auditor",)


@router.get("/office/audit/evidence.zip")
def evidence_zip(
    request: Request,
    ctx: PageCtx,
    first: Annotated[str, Query(alias="from", max_length=32)] = "",
    last: Annotated[str, Query(alias="until", max_length=32)] = "",
) -> Response:
    """The evidence pack of the period as a ZIP (auditors only: it holds the staff log, which
    finance does not read); recorded in the staff log. A bad period gets the workbench page
    with the error next to the field; a pack asked while another is made, 429 and that page."""
    from web.office_audit import audit_home, read_filter

    staff = office_session(request, ctx, EVIDENCE_ROLES)
    if not isinstance(staff, Staff):
        return staff
    f = read_filter(first, last)
    if f.period is None:
        return audit_home(request, ctx, first, last)
    if not _BUILDING.acquire(blocking=False):  # one pack at a time: each runs two commands
        page = audit_home(request, ctx, first, last)
        page.status_code = 429
        page.headers["Retry-After"] = "60"
        return page
    try:
        return _build(request, ctx, staff, f.period, first, last)
    finally:
        _BUILDING.release()


_BUILDING = threading.Lock()
"""Held while a pack is made: `heitje audit` and `heitje verify` run as child processes for
up to minutes, so a second request meanwhile gets 429 (with the workbench page) instead of
tying up more of the service (review of issue 11)."""


def _build(
    request: Request, ctx: Context, staff: Staff, period: Period, first: str, last: str
) -> Response:
    from web.office_audit import audit_home

    settings = ctx.settings
    with ThreadPoolExecutor(2) as pool:
        verifying = pool.submit(verify_report, settings)
        audit = command_report(settings, "audit", AUDIT_SECONDS)
        verify = verifying.result()
    handle, name = tempfile.mkstemp(prefix="heitje-evidence-", suffix=".zip")
    os.close(handle)
    path = Path(name)
    try:
        pack = evidence.build(
            Sources.from_context(ctx),
            period,
            path,
            audit=audit,
            verify=verify,
            made_at=datetime.now(UTC),
        )
        evidence.record_download(ctx, staff.caller, pack)
    except Refused:  # the mirror or the chain cannot be read: the workbench page says so
        path.unlink(missing_ok=True)
        return audit_home(request, ctx, first, last)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    filename = f"heitje-evidence-{period.first.isoformat()}-{period.last.isoformat()}.zip"
    return FileResponse(
        path,
        media_type="application/zip",
        filename=filename,
        headers={"Cache-Control": "private, no-store"},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
