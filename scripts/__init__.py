"""Operator and finance tools: deploy, settle (SEPA pain.001), audit (reconciliation), demo replay.

May import `heitje`, `node` and `indexer`; never `api` (it talks to the API over HTTP).
"""
