"""`heitje indexer run`: follow the deployment in DIR/deployment.json into DIR/mirror.sqlite."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from heitje.datadir import DataDir
from indexer.errors import ChainUnavailable
from indexer.index import Indexer
from node.manifest import Manifest
from node.token import connect

log = logging.getLogger("heitje.indexer")


def run_indexer(
    data_dir: Path,
    rpc_url: str,
    *,
    confirmations: int = 0,
    poll: float = 0.2,
    wait_for_chain: float = 0.0,
) -> None:
    """Index until SIGINT or SIGTERM; each round commits rows and checkpoint together.

    A node not reachable at start is waited for up to `wait_for_chain` seconds (0: refused at
    once with `ChainUnavailable`); once running, a failing node is retried every round.
    Raises `ConfigError` (`no_deployment`) without a manifest, `MirrorMismatch` when the mirror
    file belongs to another token or chain.
    """
    paths = DataDir(data_dir)
    manifest = Manifest.load(paths.manifest)
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    # A node that is down at start (restarting, or not yet up) is waited for when asked: the
    # indexer logs and tries again with a growing pause, up to 10 s, until the deadline.
    pause, deadline = poll, time.monotonic() + wait_for_chain
    while True:
        try:
            indexer = Indexer.from_manifest(
                connect(rpc_url), manifest, paths.mirror_db, confirmations=confirmations
            )
            break
        except ChainUnavailable as e:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("indexer: %s; trying again in %.1fs", e, pause)
            if stop.wait(pause):
                return
            pause = min(pause * 2, 10.0)
    try:
        indexer.run(poll, stop)
    finally:
        indexer.close()
