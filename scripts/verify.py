"""`heitje verify`: is the code on chain the code in this repository?

Rebuilds HeitjeToken from `contracts/src` with the exact compiler version and settings recorded
in the deployment manifest (`build`: compiler, evmVersion, optimizer, remappings, metadata),
through py-solc-x and the solc-js wrapper `tools/solc`, and compares the result with the runtime
bytecode at the token's address (`eth_getCode`). Two parts are ignored, as block explorers do:
the CBOR metadata at the end (it holds the metadata hash) and the immutable values the
constructor wrote (positions from the compiler's `immutableReferences`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx

from heitje.datadir import DataDir
from heitje.errors import ConfigError, HeitjeError
from node.manifest import Manifest
from node.token import connect

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLC = REPO_ROOT / "tools" / "solc"


_OUTPUTS = ["evm.deployedBytecode.object", "evm.deployedBytecode.immutableReferences"]


class CompilerMismatch(HeitjeError):
    """The compiler here is not the one recorded at deployment."""

    code = "compiler_mismatch"


@dataclass(frozen=True)
class VerifyResult:
    """`match`: the code agrees; `detail`: what differs (empty on a match); sizes in bytes."""

    match: bool
    address: str
    compiler: str
    onchain_size: int
    compiled_size: int
    detail: str


def compiler_version() -> str:
    """The version `tools/solc --version` reports, e.g. 0.8.37+commit.f401782d."""
    out = subprocess.run([str(SOLC), "--version"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip().split(".Emscripten")[0]
    raise CompilerMismatch("tools/solc did not report a version")


def compile_runtime(
    build: dict[str, Any], overrides: dict[str, str] | None = None
) -> tuple[bytes, list[tuple[int, int]]]:
    """Compile the recorded source and contract with the recorded settings.

    Returns (runtime bytecode, immutable ranges as (start, length)). `overrides` maps source
    paths to replacement text (tests use it to build a modified contract). Raises
    `CompilerMismatch` when `tools/solc` is not the recorded compiler.
    """
    wanted = str(build.get("compiler", ""))
    have = compiler_version()
    if (
        not wanted
        or not wanted.startswith(have.split("+")[0])
        or ("+" in wanted and wanted.split(".Emscripten")[0] != have)
    ):
        raise CompilerMismatch(f"deployed with solc {wanted or '?'}, tools/solc is {have}")
    source, contract = str(build["source"]), str(build["contract"])
    text = (overrides or {}).get(source) or (REPO_ROOT / source).read_text()
    sources: dict[str, Any] = {source: {"content": text}}
    for path, content in (overrides or {}).items():
        sources.setdefault(path, {"content": content})
    settings: dict[str, Any] = {
        "optimizer": build.get("optimizer", {}),
        "evmVersion": build.get("evmVersion", "paris"),
        "remappings": build.get("remappings", []),
        "metadata": build.get("metadata", {}),
        "libraries": build.get("libraries", {}),
        "outputSelection": {
            source: {
                contract: [
                    "evm.deployedBytecode.object",
                    "evm.deployedBytecode.immutableReferences",
                ]
            }
        },
    }
    if build.get("viaIR"):
        settings["viaIR"] = True
    out = solcx.compile_standard(
        {"language": "Solidity", "sources": sources, "settings": settings},
        base_path=str(REPO_ROOT),
        allow_paths=[str(REPO_ROOT)],
        solc_binary=str(SOLC),
    )
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise HeitjeError(errors[0].get("formattedMessage", "compile error"), code="compile_failed")
    deployed = out["contracts"][source][contract]["evm"]["deployedBytecode"]
    ranges = [
        (int(r["start"]), int(r["length"]))
        for refs in deployed.get("immutableReferences", {}).values()
        for r in refs
    ]
    return bytes.fromhex(deployed["object"]), ranges


def strip_metadata(code: bytes) -> bytes:
    """Code without its trailing CBOR metadata (length in the last two bytes)."""
    if len(code) < 2:
        return code
    n = int.from_bytes(code[-2:], "big")
    return code[: -(n + 2)] if n + 2 <= len(code) else code


def _mask(code: bytes, ranges: list[tuple[int, int]]) -> bytes:
    buf = bytearray(code)
    for start, length in ranges:
        buf[start : start + length] = bytes(min(length, max(0, len(buf) - start)))
    return bytes(buf)


def verify(data_dir: Path, rpc_url: str) -> VerifyResult:
    """Compare the deployed token (manifest in `data_dir`) with a rebuild of the sources.

    Raises `ConfigError` (`no_deployment`, `no_build_settings`), `CompilerMismatch`.
    """
    manifest = Manifest.load(DataDir(data_dir).manifest)
    if not manifest.build:
        raise ConfigError("the manifest records no build settings", code="no_build_settings")
    compiled, ranges = compile_runtime(manifest.build)
    onchain = bytes(connect(rpc_url).eth.get_code(manifest.token))
    a = strip_metadata(_mask(onchain, ranges))
    b = strip_metadata(_mask(compiled, ranges))
    detail = ""
    if not onchain:
        detail = f"no code at {manifest.token}"
    elif a != b:
        first = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        detail = (
            f"runtime bytecode differs from byte {first} on "
            f"(on chain {len(a)} bytes, rebuilt {len(b)} bytes, metadata and immutables "
            "ignored)"
        )
    return VerifyResult(
        match=not detail,
        address=manifest.token,
        compiler=str(manifest.build["compiler"]),
        onchain_size=len(onchain),
        compiled_size=len(compiled),
        detail=detail,
    )
