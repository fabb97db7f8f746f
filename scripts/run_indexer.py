"""`heitje indexer run`: follow the deployment in DIR/deployment.json into DIR/mirror.sqlite."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

from heitje.datadir import DataDir
from indexer.index import Indexer
from node.manifest import Manifest
from node.token import connect


def run_indexer(data_dir: Path, rpc_url: str, *, confirmations: int = 0, poll: float = 0.2) -> None:
    """Index until SIGINT or SIGTERM; each round commits rows and checkpoint together.

    Raises `ConfigError` (`no_deployment`) without a manifest, `MirrorMismatch` when the
    mirror file belongs to another token or chain.
    """
    manifest = Manifest.load(DataDir(data_dir).manifest)
    indexer = Indexer.from_manifest(
        connect(rpc_url), manifest, DataDir(data_dir).mirror_db, confirmations=confirmations
    )
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    try:
        indexer.run(poll, stop)
    finally:
        indexer.close()
