"""Rendering the pages: one Jinja2 environment per language, with the i18n extension.

Templates use `{% trans %}` and `_()` (message ids in English, `web.i18n`), `format_amount`
(integer base units) and `format_when` (Unix seconds) in the page's language, and
`csrf_field()`, which renders the hidden `csrf_token` field when the page has a token
(nothing otherwise). Every page gets `lang`, the language switch's links, the municipality's
name and the theme's files.

Pages load no inline script or style (the Content-Security-Policy allows `'self'` only):
scripts are files under /static, started from there.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context as JinjaContext
from markupsafe import Markup

from web import i18n
from web.i18n import N_

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
CSRF_FIELD = "csrf_token"
"""Name of the hidden CSRF field of every form that posts."""


@pass_context
def csrf_field(context: JinjaContext) -> Markup:
    """The hidden CSRF field, when the page has a token (`csrf_token`); else nothing."""
    token = context.get("csrf_token")
    if not token:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


def coins(units: int, language: str) -> str:
    """An amount of coins in `language`: "25,00 munten", "1,00 munt" (nl), "25.00 coins"."""
    amount = i18n.format_amount(units, language)
    text = i18n.translations(language).ngettext(
        "%(amount)s coin", "%(amount)s coins", 1 if units == 100 else 2
    )
    return str(text) % {"amount": amount}


STAFF_ROLES = ("coordinator", "admin", "finance", "auditor")
"""The municipality's staff roles: their pages are under /office (`web.office`)."""

OFFICE_MENU: dict[str, list[tuple[str, str]]] = {
    "coordinator": [
        ("/office", N_("Overview")),
        ("/office/tasks", N_("Tasks")),
        ("/office/review", N_("Work to review")),
        ("/office/dashboard", N_("Dashboard")),
    ],
    "admin": [
        ("/office", N_("Overview")),
        ("/office/staff", N_("Staff")),
        ("/office/shops", N_("Shops")),
        ("/office/periods", N_("Reward periods")),
        ("/office/log", N_("Staff log")),
        ("/office/dashboard", N_("Dashboard")),
    ],
    "finance": [
        ("/office", N_("Overview")),
        ("/office/settlement", N_("Settlement")),
        ("/office/bank", N_("Bank statements")),
        ("/office/dashboard", N_("Dashboard")),
    ],
    "auditor": [
        ("/office", N_("Overview")),
        ("/office/audit", N_("Audit")),
        ("/office/log", N_("Staff log")),
        ("/office/dashboard", N_("Dashboard")),
    ],
}
"""A staff role -> its menu: (path, message id). The page whose path is the longest prefix of
the current one is marked current."""


def office_menu(role: str, path: str) -> list[tuple[str, str, bool]]:
    """The menu of staff `role` on the page at `path`: (href, message id, current)."""
    items = OFFICE_MENU.get(role, [])
    best = max(
        (href for href, _ in items if path == href or path.startswith(href + "/")),
        key=len,
        default=None,
    )
    return [(href, text, href == best) for href, text in items]


def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        lang=language,
        csrf_field=csrf_field,
        coins=partial(coins, language=language),
        format_amount=partial(i18n.format_amount, language=language),
        format_when=partial(i18n.format_when, language=language),
        language_names=i18n.LANGUAGE_NAMES,
        office_menu=office_menu,
        staff_roles=STAFF_ROLES,
    )
    return env


_templates = {lang: Jinja2Templates(env=_environment(lang)) for lang in i18n.LANGUAGES}


def language_of(request: Request) -> str:
    """The reader's language (`web.i18n.language_from`: cookie, Accept-Language, Dutch)."""
    return i18n.language_from(
        request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language")
    )


def _here(request: Request) -> str:
    """This page's path, to come back to after switching language: without its query (a page
    never echoes what a URL says, e.g. `?error=`), and the home page after a form post (a
    refused log-in or payment)."""
    return request.url.path if request.method == "GET" else "/"


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """Render template `name` in the reader's language with `values`."""
    language = language_of(request)
    settings = request.app.state.services.settings
    here = quote(_here(request), safe="")
    context: dict[str, Any] = {
        "title": "",
        "user": None,
        "csrf_token": None,
        "error_text": None,
        "municipality": settings.municipality_name,
        "switch": [
            {
                "lang": other,
                "name": i18n.LANGUAGE_NAMES[other],
                "href": f"/lang/{other}?next={here}",
            }
            for other in i18n.LANGUAGES
            if other != language
        ],
        **values,
    }
    response = _templates[language].TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response
