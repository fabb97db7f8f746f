"""The permissioned network: geth v1.13.15 Clique validators on loopback, kept in one directory.

`init_network` writes everything a network needs; `up`, `down`, `status` and `propose` run it.
Every port binds to 127.0.0.1; peers find each other through static enode URLs only (no
discovery, no NAT). Python signs transactions locally as everywhere else: the signer key a
node unlocks is used by geth for sealing blocks only. Layout of DIR (paths in `network.json` are
relative to DIR, so the directory can move):

```
DIR/
  network.json      format, chain id, period, gas limit, service accounts, one entry per node:
                    index, signer address, enode URL, ports {p2p, http, authrpc}
  genesis.json      Clique genesis: signers in extraData, service accounts prefunded
  keys/<role>.key   service keys (node.keys, mode 0600): admin minter registrar pauser relayer
  node-I/           geth datadir of validator I:
    keystore/       the signer key in geth's encrypted JSON keystore format (v3, scrypt)
    password        its password, mode 0600
    geth/nodekey    p2p identity (the enode's key), mode 0600
    config.toml     [Node.P2P] listen address on loopback and static peers
    geth.log        geth's log (appended at every start)
    geth.pid        pid of the running geth
```

Errors are `NetworkError` with a stable `code`: `network_exists`, `no_network`, `geth_missing`,
`port_taken`, `node_start_failed`, `no_blocks`, `not_running`, `vote_failed`, `invalid_input`.

Modules, each importing only those before it: `layout` (`NetworkError`, `Network`, ports, keys,
configs, genesis, `init_network`, `add_node`), `geth` (the binary, its command line, spawning
and stopping processes, JSON-RPC), `run` (`up`, `down`, `kill`), `clique` (`signers`, `status`,
`propose`, `node_summary`).
"""

from node.network.clique import node_summary, propose, signers, status
from node.network.geth import REPO_ROOT, geth_binary, geth_version, node_pid
from node.network.layout import (
    CLIQUE_EPOCH,
    DEFAULT_CHAIN_ID,
    DEFAULT_PERIOD,
    FORMAT,
    GAS_LIMIT,
    GETH_VERSION,
    PORT_RANGE,
    PREFUND_WEI,
    Network,
    NetworkError,
    NodeSpec,
    add_node,
    genesis,
    init_network,
)
from node.network.run import FIRST_BLOCK_GRACE, down, kill, up

__all__ = [
    "CLIQUE_EPOCH",
    "DEFAULT_CHAIN_ID",
    "DEFAULT_PERIOD",
    "FIRST_BLOCK_GRACE",
    "FORMAT",
    "GAS_LIMIT",
    "GETH_VERSION",
    "PORT_RANGE",
    "PREFUND_WEI",
    "REPO_ROOT",
    "Network",
    "NetworkError",
    "NodeSpec",
    "add_node",
    "down",
    "genesis",
    "geth_binary",
    "geth_version",
    "init_network",
    "kill",
    "node_pid",
    "node_summary",
    "propose",
    "signers",
    "status",
    "up",
]
