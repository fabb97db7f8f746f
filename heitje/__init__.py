"""Heitje core: money, errors, the data directory and settings.

Below every room: `node`, `store`, `indexer`, `domain`, `api`, `web` and `scripts` may import
it; it imports none of them. The `heitje` command line lives in `scripts.cli`.
"""
