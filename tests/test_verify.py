"""`heitje verify` against a real deployment (match) and against code built from a modified
source (difference). The modified code is put at the token's address with anvil's test-only
`anvil_setCode`, which stands in for a deployment of a changed contract.

Every build (the CLI's own rebuild of the deployed token, and the builds of the original, a
modified and a commented source) is made once per module, two at a time beside the tests (this
machine has two cores): each takes seconds of solc-js, and they do not depend on each other.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3.types import RPCEndpoint

from node.anvil import Anvil
from node.manifest import Manifest
from node.token import connect
from scripts.deploy import deploy, ensure_dev_keys
from scripts.verify import REPO_ROOT, compile_runtime, strip_metadata
from tests.conftest import run_heitje

SOURCE = "contracts/src/HeitjeToken.sol"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    data_dir = tmp_path_factory.mktemp("verify")
    with Anvil(data_dir) as chain:
        ensure_dev_keys(data_dir)
        deploy(connect(chain.rpc_url), data_dir)
        yield data_dir, chain.rpc_url


def _verify(data_dir: Path, rpc_url: str) -> subprocess.CompletedProcess[str]:
    return run_heitje("verify", "--data-dir", str(data_dir), "--rpc-url", rpc_url)


Compiled = tuple[bytes, list[tuple[int, int]]]
"""A `compile_runtime` result: runtime code and immutable ranges."""


def _compile_both(build: dict[str, Any], source: str) -> tuple[Compiled, Compiled]:
    """The original source and the same with a trailing comment, one after the other."""
    return compile_runtime(build), compile_runtime(build, {SOURCE: source + "\n// note\n"})


@dataclass
class Builds:
    """The module's builds: `verified` (`heitje verify` of the deployed, unchanged token) and
    `modified` side by side, then the original and the commented source one after the other
    beside the tests (two at a time: this machine has two cores)."""

    verified: Future[subprocess.CompletedProcess[str]]
    modified: Future[Compiled]
    original_and_commented: Future[tuple[Compiled, Compiled]]
    source: str
    modified_source: str


@pytest.fixture(scope="module")
def builds(deployed: tuple[Path, str]) -> Iterator[Builds]:
    data_dir, rpc_url = deployed
    build = Manifest.load(data_dir / "deployment.json").build
    source = (REPO_ROOT / SOURCE).read_text()
    modified = source.replace("return 2;", "return 3;")  # decimals() -> 3
    with ThreadPoolExecutor(2) as pool:
        yield Builds(
            verified=pool.submit(_verify, data_dir, rpc_url),
            modified=pool.submit(compile_runtime, build, {SOURCE: modified}),
            original_and_commented=pool.submit(_compile_both, build, source),
            source=source,
            modified_source=modified,
        )


def test_deployed_token_matches_the_sources(builds: Builds) -> None:
    proc = builds.verified.result()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["match"] is True and out["detail"] == ""
    assert out["compiler"].startswith("0.8.37+commit.")


def test_modified_source_is_reported(deployed: tuple[Path, str], builds: Builds) -> None:
    data_dir, rpc_url = deployed
    manifest = Manifest.load(data_dir / "deployment.json")
    assert builds.modified_source != builds.source
    code, _ = builds.modified.result()
    builds.verified.result()  # that verify reads the unchanged code: let it finish first
    w3 = connect(rpc_url)
    original = bytes(w3.eth.get_code(manifest.token))
    w3.provider.make_request(RPCEndpoint("anvil_setCode"), [manifest.token, "0x" + code.hex()])
    try:
        assert w3.eth.get_code(manifest.token) != original
        proc = _verify(data_dir, rpc_url)
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["match"] is False
        assert proc.stderr.startswith("heitje: runtime bytecode differs from byte ")
    finally:
        w3.provider.make_request(
            RPCEndpoint("anvil_setCode"), [manifest.token, "0x" + original.hex()]
        )
    assert _verify(data_dir, rpc_url).returncode == 0


def test_a_comment_only_changes_the_metadata(builds: Builds) -> None:
    (a, _), (b, _) = builds.original_and_commented.result()
    assert a != b  # the metadata hash differs...
    assert strip_metadata(a) == strip_metadata(b)  # ...the code does not
