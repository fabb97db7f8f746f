"""Heitje core: money, errors and the `heitje` command line.

Below every room: `node`, `indexer`, `api` and `scripts` may import it; it imports none of them
(the CLI loads rooms lazily, inside its commands).
"""
