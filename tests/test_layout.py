"""The house plan, checked from the source: imports flow one way between rooms, only the owner
of a database file runs SQL on it, and tests make databases through the owners.

Rooms, bottom to top (docs/architecture.md):

    heitje  <-  node, store  <-  indexer  <-  domain  <-  api, web, scripts  <-  bench

A room may import rooms below it, never one above or beside it; `node` and `store` do not
import each other; `api`, `web` and `scripts` are faces and do not import each other, except
`api.app`, the composition root that mounts the pages (`web`) on the same ASGI app.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEVEL = {
    "heitje": 0,
    "node": 1,
    "store": 1,
    "indexer": 2,
    "domain": 3,
    "api": 4,
    "web": 4,
    "scripts": 4,
    "bench": 5,
}
ROOMS = tuple(LEVEL)
ALLOWED_SIDEWAYS = {("api/app.py", "web")}
"""(file, room) pairs allowed to import a room on their own level, with the reason above."""

# Which rooms may run SQL on which database file; every other `.execute(` is a violation.
SQL_OWNERS = {"store", "indexer"}
SQL_EXCEPTIONS = {
    "node/signer.py": "the transaction journal nonces.sqlite is the signer's own file",
    "node/journal.py": "the schema of that journal",
}


def _modules(room: str) -> list[Path]:
    return sorted((REPO / room).rglob("*.py"))


def _imported_rooms(path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, its room) for every import of one of our rooms in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            room = name.split(".")[0]
            if room in LEVEL:
                found.append((node.lineno, name, room))
    return found


def _violations() -> list[str]:
    out = []
    for room in ROOMS:
        for path in _modules(room):
            rel = path.relative_to(REPO).as_posix()
            for line, module, target in _imported_rooms(path):
                if target == room:
                    continue
                upward = LEVEL[target] > LEVEL[room]
                sideways = LEVEL[target] == LEVEL[room] and (rel, target) not in ALLOWED_SIDEWAYS
                if upward or sideways:
                    way = "upward" if upward else "sideways"
                    out.append(f"{rel}:{line} imports {module} ({way}: {room} -> {target})")
    return out


def test_imports_flow_one_way() -> None:
    assert _violations() == []


def test_every_room_is_a_package_listed_in_pyproject() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    for room in ROOMS:
        if room == "bench":
            continue
        assert (REPO / room / "__init__.py").is_file(), room
        assert f'"{room}*"' in pyproject and f'"{room}"' in pyproject, room


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The import check itself: an upward import is found, with the file and the import."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom domain.tasks import approve\nimport api.app\n")
    assert _imported_rooms(sample) == [(2, "domain.tasks", "domain"), (3, "api.app", "api")]


_SQL_CALL = re.compile(r"\.(execute|executemany|executescript)\(")


def test_only_owners_run_sql() -> None:
    """Only `store` runs SQL on service.sqlite and only `indexer` on mirror.sqlite; the one
    other file with SQL is the signer's journal."""
    offenders = []
    for room in ROOMS:
        if room in SQL_OWNERS:
            continue
        for path in _modules(room):
            rel = path.relative_to(REPO).as_posix()
            if rel in SQL_EXCEPTIONS:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _SQL_CALL.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


TAMPERING = {
    "tests/test_settle.py": "insider tests rebuild a ledger table without its key and add a "
    "trigger, to show that reconciliation catches it",
}


def test_only_owners_write_their_schema() -> None:
    """No DDL outside the owners, tests included: tests make databases through them (except
    tests that tamper with a database as a hostile insider would, named in TAMPERING)."""
    ddl = re.compile(r"CREATE\s+(TABLE|INDEX|VIEW)", re.IGNORECASE)
    offenders = []
    for folder in (*ROOMS, "tests"):
        if folder in SQL_OWNERS:
            continue
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if path.name == "test_layout.py" or rel in SQL_EXCEPTIONS or rel in TAMPERING:
                continue
            text = path.read_text()
            if ddl.search(text):
                offenders.append(path.relative_to(REPO).as_posix())
    assert offenders == []


NETWORK_DIR = re.compile(r"net\.directory|NETWORK_DIR")
"""A network directory (node/network) has a layout of its own, not a data directory's."""


def test_data_directory_paths_are_built_once() -> None:
    """Every path of a data directory comes from `heitje.datadir.DataDir`."""
    pattern = re.compile(
        r"""/ ["'](service\.sqlite|mirror\.sqlite|nonces\.sqlite|deployment\.json|keys|"""
        r"""settlements|logs|chain|kek\.key|dispatcher\.lock)["']"""
    )
    offenders = []
    for room in ROOMS:
        for path in _modules(room):
            rel = path.relative_to(REPO).as_posix()
            if rel == "heitje/datadir.py" or rel.startswith("node/network"):
                continue  # a network directory has its own layout (node/network)
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and not NETWORK_DIR.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def test_bench_never_imports_tests() -> None:
    for path in sorted((REPO / "bench").glob("*.py")):
        for _, module, _ in _imported_rooms(path):
            assert not module.startswith("tests"), path
        assert "from tests" not in path.read_text() and "import tests" not in path.read_text()


def test_modules_stay_small() -> None:
    """No module over 400 lines, except those named here with the reason."""
    reasons = {
        "scripts/cli.py": "one typer command per function; splitting scatters the reference",
        "node/signer.py": "the transaction manager: one lock over sending, following and sending "
        "again; its state machine reads best whole (the journal's schema is node/journal.py)",
    }
    long = []
    for room in ROOMS:
        for path in _modules(room):
            rel = path.relative_to(REPO).as_posix()
            lines = len(path.read_text().splitlines())
            if lines > 400 and rel not in reasons:
                long.append(f"{rel}: {lines} lines")
    assert long == []
