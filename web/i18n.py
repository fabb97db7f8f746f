"""Languages of the pages: Dutch (default) and English, from Babel message catalogues.

The catalogues are `web/translations/<lang>/LC_MESSAGES/messages.po`; `make setup` compiles
them to `.mo` with `pybabel compile`. A catalogue whose `.mo` is missing or older than its
`.po` is compiled in memory when first used, so a fresh checkout shows the same texts.

Message ids are English; the English catalogue repeats them (so a test can check that every
message has both translations). Dutch is written at language level B1: short sentences,
everyday words ("saldo", "munten", "klus"; never "wallet", "token", "transaction").

The reader's language: the `heitje_lang` cookie (set by the language switch), else the
browser's Accept-Language, else Dutch. Amounts and dates are formatted in that language with
Babel; amounts come in as integer base units and never pass through a float.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from heitje.money import DECIMALS

log = logging.getLogger("heitje.web")

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("nl", "en")
"""The pages' languages; the first is the default."""
DEFAULT_LANGUAGE = "nl"
LANG_COOKIE = "heitje_lang"
"""Cookie that remembers the reader's choice of language (a year)."""
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}
"""Each language's name in itself (the language switch)."""
FORMAT_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
"""Babel locale used to format numbers and dates per language (British English: day first)."""
TIMEZONE = ZoneInfo("Europe/Amsterdam")
"""Dates and times on the pages are shown in Dutch time."""


def N_(message: str) -> str:
    """Mark a message for extraction without translating it now (translated when shown)."""
    return message


def catalogue_path(language: str) -> Path:
    """The `.po` file of `language`."""
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"


@cache
def translations(language: str) -> Translations:
    """The compiled catalogue of `language` (`.mo`, or the `.po` compiled in memory)."""
    po = catalogue_path(language)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return Translations(f)
    log.info("compiling %s in memory (run `make setup` to compile it once)", po)
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(language: str, message: str) -> str:
    """`message` (an English message id) in `language`."""
    return str(translations(language).gettext(message))


def language_from(cookie: str | None, accept_language: str | None) -> str:
    """The reader's language: the cookie when it names one of ours, else the first of ours
    in Accept-Language (by quality, then order), else Dutch."""
    if cookie in LANGUAGES:
        return cookie
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])  # a preference weight, never money
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            wanted.append((-quality, i, primary))
    return min(wanted)[2] if wanted else DEFAULT_LANGUAGE


def format_amount(units: int, language: str) -> str:
    """Base units as an amount in `language`: 127500 -> "1.275,00" (nl), "1,275.00" (en)."""
    return format_decimal(
        Decimal(units).scaleb(-DECIMALS),
        format="#,##0.00;-#,##0.00",
        locale=FORMAT_LOCALES[language],
    )


def format_when(timestamp: int | datetime, language: str) -> str:
    """A moment (Unix seconds or an aware datetime) as date and time in Dutch time, in
    `language`: "2 dec 2026 10:33" (nl), "2 Dec 2026 10:33" (en)."""
    moment = datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int) else timestamp
    local = moment.astimezone(TIMEZONE)
    locale = FORMAT_LOCALES[language]
    date = format_date(local.date(), format="medium", locale=locale)
    return f"{date} {format_time(local.time(), format='HH:mm', locale=locale)}"


def format_day(day: date, language: str) -> str:
    """A date in words in `language`: "2 december 2026" (nl), "2 December 2026" (en)."""
    return format_date(day, format="long", locale=FORMAT_LOCALES[language])
