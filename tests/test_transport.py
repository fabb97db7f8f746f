"""web3 over kept-alive sockets (`node.transport`): answers, one connection per thread, and
failures raised as the `requests` exceptions web3's own provider raises (callers catch those,
or `OSError`). A local HTTP server plays the node."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
import requests
from web3.types import RPCEndpoint

from node.ports import free_port
from node.token import connect
from tests.conftest import served


class FakeNode(BaseHTTPRequestHandler):
    """Answers every JSON-RPC request with the request's method name as its result (a
    batch item by item), keeps connections alive, and notes each client port it served."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[set[int]] = set()
    status: ClassVar[int] = 200
    delay: ClassVar[float] = 0.0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeNode.ports.add(self.client_address[1])
        time.sleep(FakeNode.delay)

        def answer(request: dict[str, Any]) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": request["id"], "result": request["method"]}

        out = [answer(r) for r in body] if isinstance(body, list) else answer(body)
        data = json.dumps(out).encode()
        self.send_response(FakeNode.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def node() -> Any:
    FakeNode.ports, FakeNode.status, FakeNode.delay = set(), 200, 0.0
    with served(FakeNode) as url:
        yield url


def test_calls_and_batches_are_answered_over_one_connection_per_thread(node: str) -> None:
    w3 = connect(node)
    provider: Any = w3.provider
    for _ in range(3):
        assert provider.make_request(RPCEndpoint("eth_call"), [])["result"] == "eth_call"
    batch = provider.make_batch_request([(RPCEndpoint("eth_a"), []), (RPCEndpoint("eth_b"), [])])
    assert sorted(r["result"] for r in batch) == ["eth_a", "eth_b"]
    assert len(FakeNode.ports) == 1  # four requests, one kept-alive connection

    def other() -> None:
        provider.make_request(RPCEndpoint("eth_call"), [])

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(FakeNode.ports) == 2  # another thread, its own connection


def test_an_http_error_status_is_requests_http_error(node: str) -> None:
    FakeNode.status = 500
    provider: Any = connect(node).provider
    with pytest.raises(requests.HTTPError, match="HTTP 500"):
        provider.make_request(RPCEndpoint("eth_sendRawTransaction"), ["0x00"])


def test_no_node_is_requests_connection_error_and_an_os_error() -> None:
    provider: Any = connect(f"http://127.0.0.1:{free_port()}").provider
    with pytest.raises(requests.ConnectionError) as raised:
        provider.make_request(RPCEndpoint("eth_sendRawTransaction"), ["0x00"])
    assert isinstance(raised.value, OSError)  # what `domain` catches as "chain unavailable"


def test_a_node_slower_than_the_timeout_is_requests_read_timeout(node: str) -> None:
    FakeNode.delay = 1.0
    provider: Any = connect(node, timeout=0.2).provider
    with pytest.raises(requests.ReadTimeout):
        provider.make_request(RPCEndpoint("eth_sendRawTransaction"), ["0x00"])
