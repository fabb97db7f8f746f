"""Errors of the indexer room; each is a `HeitjeError` with a stable `code` (and a builtin base)."""

from __future__ import annotations

from heitje.errors import HeitjeError


class ChainUnavailable(HeitjeError, ConnectionError):
    """The node did not answer, or answered a JSON-RPC error. Transient: retry later."""

    code = "chain_unavailable"
    http_status = 503


class RangeRefused(ChainUnavailable):
    """The node refused an `eth_getLogs` range (too many results, a response-size or range
    limit, any JSON-RPC error) or did not answer it in time. Ask again with a smaller range."""


class ChainMoved(HeitjeError, RuntimeError):
    """The chain changed while a block range was being fetched (a reorg in progress).

    Transient: the indexer re-checks its checkpoint and fetches again.
    """

    code = "chain_moved"
    http_status = 503


class DecodeError(HeitjeError, ValueError):
    """A log of the token address does not have the shape its event signature promises."""

    code = "undecodable_log"
    http_status = 500


class MirrorMissing(HeitjeError, FileNotFoundError):
    """The mirror file does not exist yet (the indexer has not run)."""

    code = "mirror_missing"
    http_status = 503


class MirrorMismatch(HeitjeError, ValueError):
    """The mirror file was built for another token or chain."""

    code = "mirror_mismatch"
    http_status = 500


class MirrorBehind(HeitjeError, LookupError):
    """The mirror has not indexed the block asked for yet (or nothing at all). Transient: let
    the indexer catch up and try again (settlement refuses to cut off past the mirror)."""

    code = "mirror_behind"
    http_status = 503


class IndexerTimeout(HeitjeError, TimeoutError):
    """The mirror did not reach the wanted block in time."""

    code = "indexer_timeout"
    http_status = 504
