"""Docs cannot drift from the code (as Datasette's test_docs.py): every CLI command has help and
is in README.md, every API route has a description and a row in docs/api.md, every public
money function has a docstring, and no doc or message names a command that does not exist."""

from __future__ import annotations

import base64
import inspect
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from heitje import money
from scripts import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
API_MD = REPO / "docs" / "api.md"
SOURCE_ROOMS = ("heitje", "node", "store", "indexer", "domain", "api", "web", "scripts")


# --- the CLI -------------------------------------------------------------------------------------


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")  # typer vendors click: no isinstance(click.Group)


def _walk(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(full name, command) for every command and group below the root, groups included."""
    if _is_group(group):
        for name, command in sorted(group.commands.items()):
            path = (*prefix, name)
            yield " ".join(path), command
            yield from _walk(command, path)


ROOT = typer.main.get_command(cli.app)
ALL_COMMANDS = dict(_walk(ROOT))
LEAF_COMMANDS = sorted(n for n, c in ALL_COMMANDS.items() if not _is_group(c))


def test_the_walk_finds_the_known_commands() -> None:
    assert {
        "demo",
        "settle",
        "audit",
        "deploy",
        "scenario generate",
        "chain start",
        "api serve",
        "indexer run",
    } <= set(LEAF_COMMANDS)


@pytest.mark.parametrize("name", sorted(ALL_COMMANDS))
def test_cli_command_has_help(name: str) -> None:
    command = ALL_COMMANDS[name]
    assert (command.help or "").strip(), f"`heitje {name}` has no docstring/help text"


def _mentions(text: str) -> Iterator[tuple[str, ...]]:
    """Word sequences after `heitje ` at the start of a line, after a space or backtick
    (not /srv/heitje), up to the first option, placeholder or punctuation."""
    for m in re.finditer(r"(?:^|(?<=[\s`(]))heitje((?: +[a-z][a-z0-9-]*)+)", text, re.MULTILINE):
        yield tuple(m.group(1).split())


def _resolve(words: tuple[str, ...]) -> tuple[str | None, str]:
    """(the command a mention names or None, the words judged)."""
    node: Any = ROOT
    used: list[str] = []
    for word in words:
        if not _is_group(node):
            break  # the rest are arguments
        sub = node.commands.get(word)
        used.append(word)
        if sub is None:
            return None, " ".join(used)
        node = sub
    return " ".join(used), " ".join(used)


def _readme_mentions() -> set[str]:
    return {name for words in _mentions(README.read_text()) if (name := _resolve(words)[0])}


def test_every_cli_command_is_in_the_readme() -> None:
    if not README.exists():
        pytest.fail("README.md does not exist yet")
    missing = [f"heitje {name}" for name in LEAF_COMMANDS if name not in _readme_mentions()]
    assert not missing, "README.md does not mention: " + ", ".join(missing)


def _docs_and_sources() -> Iterator[tuple[Path, str]]:
    for path in [README, REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]:
        if path.exists():
            yield path, path.read_text()
    for room in SOURCE_ROOMS:
        for path in sorted((REPO / room).rglob("*.py")):
            yield path, path.read_text()


def test_docs_and_messages_name_only_commands_that_exist() -> None:
    unknown = []
    for path, text in _docs_and_sources():
        pattern = r"heitje((?: +[a-z][a-z0-9-]*)+)"
        # In Python only `heitje ...` in backticks: the word "heitje" also names the package.
        found: Iterable[tuple[str, ...]]
        if path.suffix == ".py":
            found = (tuple(m.group(1).split()) for m in re.finditer("`" + pattern, text))
        else:
            found = _mentions(text)
        for words in found:
            name, judged = _resolve(words)
            if name is None:
                unknown.append(f"{path.relative_to(REPO)}: `heitje {judged}`")
    assert not unknown, "no such command: " + "; ".join(sorted(set(unknown)))


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI schema of an app built with test settings; the lifespan is not started."""
    from pydantic import SecretStr

    from api.app import create_app
    from heitje.settings import Settings

    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(
        kek=SecretStr(base64.b64encode(os.urandom(32)).decode()),
        data_dir=data_dir,
        dispatcher=False,
    )
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


METHODS = {"get", "post", "put", "patch", "delete"}


def _routes(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    }


def _api_md_rows() -> dict[tuple[str, str], str]:
    """(METHOD, /path) -> the whole table row, for rows of docs/api.md whose first two cells
    are a method and a path."""
    rows = {}
    for line in API_MD.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if (
            len(cells) >= 2
            and cells[0] in {m.upper() for m in METHODS}
            and cells[1].startswith("/")
        ):
            rows[(cells[0], cells[1])] = line
    return rows


def test_the_schema_has_the_known_routes(openapi: dict[str, Any]) -> None:
    routes = _routes(openapi)
    assert ("POST", "/payments") in routes
    assert ("GET", "/audit/totals") in routes
    assert len(routes) >= 20


def test_every_api_route_has_a_description(openapi: dict[str, Any]) -> None:
    bare = [
        f"{m} {p}"
        for (m, p), op in _routes(openapi).items()
        if not (op.get("description") or "").strip()
    ]
    assert not bare, "routes without a docstring: " + ", ".join(bare)


def test_every_api_route_is_in_docs_api_md(openapi: dict[str, Any]) -> None:
    documented = _api_md_rows()
    missing = [f"{m} {p}" for (m, p) in _routes(openapi) if (m, p) not in documented]
    assert not missing, "docs/api.md has no row for: " + ", ".join(missing)


def test_docs_api_md_documents_only_real_routes(openapi: dict[str, Any]) -> None:
    routes = _routes(openapi)
    extra = [f"{m} {p}" for (m, p) in _api_md_rows() if (m, p) not in routes]
    assert not extra, "docs/api.md documents routes that do not exist: " + ", ".join(extra)


def test_error_codes_of_each_route_docstring_are_in_its_docs_row(openapi: dict[str, Any]) -> None:
    rows = _api_md_rows()
    missing = []
    for (method, path), op in _routes(openapi).items():
        description = op.get("description") or ""
        if "Errors:" not in description or (method, path) not in rows:
            continue
        codes = re.findall(r"`([a-z][a-z0-9_]*)`", description.split("Errors:", 1)[1])
        for code in codes:
            if f"`{code}`" not in rows[(method, path)]:
                missing.append(f"{method} {path}: `{code}`")
    assert not missing, "docs/api.md rows lack error codes: " + ", ".join(missing)


@pytest.mark.parametrize(
    "topic",
    [
        "Authorization: Bearer",
        "/auth/token",
        "heitje_session",
        '"code"',
        '"message"',
        "X-Heitje-Time",
        "HEITJE_REHEARSAL",
        "Idempotency-Key",
    ],
)
def test_docs_api_md_explains(topic: str) -> None:
    assert topic in API_MD.read_text()


# --- money ---------------------------------------------------------------------------------------


PUBLIC_MONEY = sorted(
    name
    for name, f in inspect.getmembers(money, inspect.isfunction)
    if not name.startswith("_") and f.__module__ == money.__name__
)


def test_money_has_public_functions() -> None:
    assert {"parse_heit", "format_heit", "format_eur", "parse_rate", "units_to_cents"} <= set(
        PUBLIC_MONEY
    )


@pytest.mark.parametrize("name", PUBLIC_MONEY)
def test_public_money_function_has_a_docstring(name: str) -> None:
    assert (inspect.getdoc(getattr(money, name)) or "").strip()


def _python_rooms() -> set[str]:
    """Top-level folders that are packages of ours, plus bench (scripts, not a package)."""
    rooms = {p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name != "tests"}
    return rooms | {"bench"}


def test_architecture_room_table_matches_the_folders() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)/` \|", text, flags=re.MULTILINE))
    assert listed == _python_rooms()


def test_readme_room_list_matches_the_folders() -> None:
    listed = set(re.findall(r"^- `([a-z_]+)/`:", README.read_text(), flags=re.MULTILINE))
    assert listed - {"contracts"} == _python_rooms()
