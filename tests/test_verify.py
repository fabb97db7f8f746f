"""`heitje verify` against a real deployment (match) and against code built from a modified
source (difference). The modified code is put at the token's address with anvil's test-only
`anvil_setCode`, which stands in for a deployment of a changed contract."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.anvil import Anvil
from node.manifest import Manifest
from node.token import connect
from scripts.deploy import deploy, ensure_dev_keys
from scripts.verify import REPO_ROOT, compile_runtime, strip_metadata
from tests.conftest import run_heitje


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    data_dir = tmp_path_factory.mktemp("verify")
    with Anvil(data_dir) as chain:
        ensure_dev_keys(data_dir)
        deploy(connect(chain.rpc_url), data_dir)
        yield data_dir, chain.rpc_url


def _verify(data_dir: Path, rpc_url: str) -> subprocess.CompletedProcess[str]:
    return run_heitje("verify", "--data-dir", str(data_dir), "--rpc-url", rpc_url)


def test_deployed_token_matches_the_sources(deployed: tuple[Path, str]) -> None:
    data_dir, rpc_url = deployed
    proc = _verify(data_dir, rpc_url)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["match"] is True and out["detail"] == ""
    assert out["compiler"].startswith("0.8.37+commit.")


def test_modified_source_is_reported(deployed: tuple[Path, str]) -> None:
    data_dir, rpc_url = deployed
    manifest = Manifest.load(data_dir / "deployment.json")
    source = (REPO_ROOT / "contracts/src/HeitjeToken.sol").read_text()
    modified = source.replace("return 2;", "return 3;")  # decimals() -> 3
    assert modified != source
    code, _ = compile_runtime(manifest.build, {"contracts/src/HeitjeToken.sol": modified})
    w3 = connect(rpc_url)
    original = bytes(w3.eth.get_code(manifest.token))
    w3.provider.make_request("anvil_setCode", [manifest.token, "0x" + code.hex()])
    try:
        assert w3.eth.get_code(manifest.token) != original
        proc = _verify(data_dir, rpc_url)
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["match"] is False
        assert proc.stderr.startswith("heitje: runtime bytecode differs from byte ")
    finally:
        w3.provider.make_request("anvil_setCode", [manifest.token, "0x" + original.hex()])
    assert _verify(data_dir, rpc_url).returncode == 0


def test_a_comment_only_changes_the_metadata(deployed: tuple[Path, str]) -> None:
    data_dir, _ = deployed
    build = Manifest.load(data_dir / "deployment.json").build
    source = (REPO_ROOT / "contracts/src/HeitjeToken.sol").read_text()
    a, _ = compile_runtime(build)
    b, _ = compile_runtime(build, {"contracts/src/HeitjeToken.sol": source + "\n// note\n"})
    assert a != b  # the metadata hash differs...
    assert strip_metadata(a) == strip_metadata(b)  # ...the code does not
