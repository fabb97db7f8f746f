"""Status and votes: the Clique signer set, `status`, `propose` and `node_summary`."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from node.network.geth import _rpc, _try_rpc, node_pid
from node.network.layout import Network, NetworkError, NodeSpec


def signers(directory: Path) -> list[ChecksumAddress] | None:
    """The current Clique signer set (clique_getSigners of the first running node), or None
    when no node runs."""
    net = Network.load(directory)
    for node in net.nodes:
        if node_pid(net, node) is not None:
            result = _try_rpc(node.rpc_url, "clique_getSigners")
            if isinstance(result, list):
                return [Web3.to_checksum_address(a) for a in result]
    return None


def status(directory: Path) -> dict[str, Any]:
    """The network as JSON-ready data: chain id, the current signer set (clique_getSigners of
    the first running node; None when none runs) and, per node: RPC URL, whether it runs, head
    block number and hash and peer count (None when it does not run or answer), and whether
    its signer address is in the current signer set."""
    net = Network.load(directory)
    nodes = []
    signer_set: list[ChecksumAddress] | None = None
    for node in net.nodes:
        pid = node_pid(net, node)
        entry: dict[str, Any] = {
            "node": node.index,
            "name": node.name,
            "address": node.address,
            "rpc_url": node.rpc_url,
            "running": pid is not None,
            "pid": pid,
            "block": None,
            "hash": None,
            "peers": None,
            "signer": None,
        }
        if pid is not None:
            head = _try_rpc(node.rpc_url, "eth_getBlockByNumber", ["latest", False])
            peers = _try_rpc(node.rpc_url, "net_peerCount")
            if isinstance(head, dict):
                entry["block"] = int(head["number"], 16)
                entry["hash"] = head["hash"]
            if isinstance(peers, str):
                entry["peers"] = int(peers, 16)
            if signer_set is None:
                own = _try_rpc(node.rpc_url, "clique_getSigners")
                if isinstance(own, list):
                    signer_set = [Web3.to_checksum_address(a) for a in own]
        nodes.append(entry)
    if signer_set is not None:
        for entry in nodes:
            entry["signer"] = entry["address"] in signer_set
    return {
        "directory": str(net.directory),
        "chain_id": net.chain_id,
        "period": net.period,
        "signers": signer_set,
        "nodes": nodes,
    }


def propose(
    directory: Path, address: str, *, authorize: bool, wait: float = 60.0
) -> dict[str, Any]:
    """Cast the Clique vote to add (`authorize`) or remove `address` from every running signer.

    With `wait` > 0, waits until the signer set changed and then discards the proposal on
    every running node (a vote geth keeps would otherwise be cast again should the signer set
    ever change back). Returns {"address", "authorize", "voters": [node indices], "signers":
    the signer set at the end}. Raises `NetworkError`: `invalid_input` (bad address, nothing to
    change), `not_running` (no signer runs), `vote_failed` (no majority within `wait`).
    """
    if not Web3.is_address(address):
        raise NetworkError(f"{address!r} is not an Ethereum address", code="invalid_input")
    target = Web3.to_checksum_address(address)
    net = Network.load(directory)
    current = signers(directory)
    if current is None:
        raise NetworkError("no node is running (`heitje network up`)", code="not_running")
    if (target in current) == authorize:
        state = "already" if authorize else "not"
        raise NetworkError(f"{target} is {state} a signer", code="invalid_input")
    voters = []
    for node in net.nodes:
        if node.address in current and node_pid(net, node) is not None:
            _rpc(node.rpc_url, "clique_propose", [target, authorize])
            voters.append(node.index)
    if not voters:
        raise NetworkError("no signer is running", code="not_running")
    result: dict[str, Any] = {
        "address": target,
        "authorize": authorize,
        "voters": voters,
        "signers": current,
    }
    if wait <= 0:
        return result
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        now = signers(directory) or []
        if (target in now) == authorize:
            for node in net.nodes:
                if node_pid(net, node) is not None:
                    _try_rpc(node.rpc_url, "clique_discard", [target])
            result["signers"] = now
            return result
        time.sleep(0.2)
    raise NetworkError(
        f"votes cast by nodes {', '.join(map(str, voters))} but the signer set did not change "
        f"within {wait:.0f}s (more than half of the {len(current)} signers must vote)",
        code="vote_failed",
    )


def node_summary(node: NodeSpec) -> dict[str, Any]:
    """A node's static description (for `heitje network init` / `add-node` output)."""
    data = asdict(node)
    data["name"] = node.name
    data["rpc_url"] = node.rpc_url
    return data
