"""Chain events -> SQLite mirror: fetch token logs (eth_getLogs), decode them, write rows and the
checkpoint in one transaction (reorg-safe); read queries for the API, settlement and audit.

May import `heitje` and `node` only; `api` and `scripts` build on it.
"""
