"""The files of a settlement batch: the CSV summary, and writing them so a crash loses nothing.

A batch's pain.001 XML and CSV are first written (and fsynced) as hidden temp files
(`.<batch_id>.xml.tmp`), then the ledger row is committed, then the temp files are renamed.
A crash between commit and rename is finished by the next run (`finish_interrupted`); temp files
of a run that never committed are deleted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from heitje.money import format_eur, format_heit
from store import ledger

if TYPE_CHECKING:
    from domain.settlement.batch import ShopPayment

BATCH_PREFIX = "HEIT"
"""Batch ids are `HEIT-<YYYYMMDD>-<nnnn>`."""
CSV_COLUMNS = (
    "batch_id",
    "end_to_end_id",
    "shop_id",
    "shop_address",
    "shop_name",
    "iban",
    "redemption_ids",  # space-separated, ascending
    "heit",  # HEIT redeemed, "12.50"
    "eur",  # euros paid, "6.25"
)
_TEMP = re.compile(rf"^\.({BATCH_PREFIX}-[0-9]{{8}}-[0-9]{{4,}})\.(xml|csv)\.tmp$")


def csv_summary(batch_id: str, payments: Sequence[ShopPayment]) -> bytes:
    """The CSV beside the XML: one row per payment, columns `CSV_COLUMNS`, UTF-8, CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in payments:
        writer.writerow(
            [
                batch_id,
                p.end_to_end_id,
                _csv_safe(p.shop_id),
                p.shop,
                _csv_safe(p.name),
                p.iban,
                " ".join(map(str, p.redemption_ids)),
                format_heit(p.units),
                format_eur(p.cents),
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _csv_safe(text: str) -> str:
    """Keep spreadsheet programs from reading a name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def temp_path(final: Path) -> Path:
    """Where `final` is written before its batch is committed: `.<name>.tmp` beside it."""
    return final.with_name(f".{final.name}.tmp")


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` and fsync it."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finish_interrupted(conn: sqlite3.Connection, settlements_dir: Path) -> None:
    """Under the ledger's write lock: rename temp files of committed batches whose final file is
    missing (crash between commit and rename, sha256 must match); delete other temp files."""
    for temp in settlements_dir.iterdir():
        m = _TEMP.match(temp.name)
        if m is None:
            continue
        batch_id, ext = m.group(1), m.group(2)
        sha256 = ledger.batch_sha256(conn, batch_id)
        if sha256 is None:  # its run failed before commit
            temp.unlink(missing_ok=True)
            continue
        final = settlements_dir / f"{batch_id}.{ext}"
        intact = ext == "csv" or hashlib.sha256(temp.read_bytes()).hexdigest() == sha256
        if intact and not final.exists():
            os.replace(temp, final)
