"""Running the chain and talking to it: embedded anvil, web3 connection, HEIT contract binding,
local signing with a persistent nonce journal, EIP-712/EIP-3009 authorizations, deployment.

May import `heitje` only; `indexer`, `api` and `scripts` build on it.
"""
