"""A small JSON-RPC client of an Ethereum node over HTTP/1.1, for reads where web3 costs more
to import than the work: `heitje status` asks for a few figures and exits.

Raises, named as web3's HTTP provider (`requests`) names the same failures, so a report that
quotes the error's name reads the same either way: `ConnectionError` (no connection, or it
broke), `ConnectTimeout` / `ReadTimeout` (no answer within `timeout` seconds), `HTTPError` (a
status other than 200, or a body that is not a JSON-RPC answer), `InvalidURL` (not an http(s)
URL), `RPCError` (the node answered with a JSON-RPC error).
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

_LINE = 65_537  # longest status or header line read


class ConnectTimeout(TimeoutError):
    """The node did not accept a connection within the timeout."""


class ReadTimeout(TimeoutError):
    """The node did not answer within the timeout."""


class HTTPError(OSError):
    """The node answered with an HTTP status other than 200, or not with JSON-RPC."""


class InvalidURL(ValueError):
    """The node's URL is not an http(s) URL with a host."""


class RPCError(Exception):
    """The node answered with a JSON-RPC error: `code` and `message` as it gave them."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code = code
        self.message = message


class Rpc:
    """One keep-alive HTTP/1.1 connection to the node at `url` (http or https; user and
    password in the URL are sent as basic authentication), spoken over a plain socket: the
    standard library's `http.client` imports ssl and email (about 8 ms, a tenth of what
    `heitje status` may spend). Not thread-safe; `close()` when done. Nothing is checked or
    opened before the first call, which raises what is wrong."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._head = b""  # request line and headers, up to Content-Length
        self._sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._ids = itertools.count(1)
        self._answers: dict[str, Any] = {}  # prefetched results by request (`prefetch`)
        self._timed_out: TimeoutError | None = None  # a prefetch's, raised by the next call

    def _connect(self) -> tuple[socket.socket, BinaryIO]:
        if self._sock is None or self._reader is None:
            try:
                parts = urlsplit(self.url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError as e:
                raise InvalidURL(f"{self.url!r}: {e}") from None
            host = parts.hostname
            if parts.scheme not in ("http", "https") or not host:
                raise InvalidURL(f"{self.url!r} is not an http(s) URL")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            name = f"[{host}]" if ":" in host else host
            head = [f"POST {path} HTTP/1.1", f"Host: {name}:{port}"]
            if parts.username is not None:
                user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                head.append("Authorization: Basic " + base64.b64encode(user_pass.encode()).decode())
            head += ["Content-Type: application/json", "Accept: application/json"]
            self._head = ("\r\n".join(head) + "\r\nContent-Length: ").encode("latin-1")
            try:
                sock = socket.create_connection((host, port), timeout=self.timeout)
                if parts.scheme == "https":
                    import ssl

                    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            except TimeoutError:
                raise ConnectTimeout(
                    f"no connection to {self.url} within {self.timeout} s"
                ) from None
            except OSError as e:
                raise ConnectionError(f"no connection to {self.url}: {e}") from e
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock, self._reader = sock, sock.makefile("rb")
        return self._sock, self._reader

    def _exchange(self, body: bytes) -> tuple[int, bytes]:
        """Send one POST and read its answer: (HTTP status, body). Raises `OSError`."""
        sock, reader = self._connect()
        sock.sendall(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
        while True:
            status_line = reader.readline(_LINE)
            if not status_line:
                raise ConnectionError("the node closed the connection")
            version, _, rest = status_line.decode("latin-1").partition(" ")
            status = int(rest[:3])
            headers: dict[str, str] = {}
            while (line := reader.readline(_LINE)) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not 100 <= status < 200:  # skip interim answers
                break
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int(reader.readline(_LINE).split(b";")[0], 16):
                chunks.append(reader.read(size))
                reader.readline(_LINE)
            while reader.readline(_LINE) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            data = b"".join(chunks)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            data = reader.read(length)
            if len(data) != length:
                raise ConnectionError("the node broke off its answer")
        else:  # the answer ends with the connection
            data = reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return status, data

    def prefetch(self, requests: list[tuple[str, list[Any]]]) -> None:
        """Ask the node for all `requests` (method, params) in one JSON-RPC batch, one round
        trip instead of one each; the next `call` of each is answered from it (once). Never
        raises: a request the batch did not answer (any failure, or a node without batches) is
        asked by its `call` as before, which raises what is wrong; after a time-out the next
        `call` raises it at once (`ConnectTimeout`, `ReadTimeout`) instead of waiting again."""
        ids = {next(self._ids): (method, params) for method, params in requests}
        body = json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in ids.items()]
        ).encode()
        try:
            status, data = self._exchange(body)
            answers = json.loads(data) if status == 200 else None
        except ConnectTimeout as e:
            self._timed_out = e
            return
        except TimeoutError:
            self.close()
            self._timed_out = ReadTimeout(f"{self.url} did not answer within {self.timeout} s")
            return
        except (OSError, ValueError):
            self.close()
            return
        if not isinstance(answers, list):
            return
        for answer in answers:
            if not isinstance(answer, dict) or answer.get("error") is not None:
                continue
            request_id = answer.get("id")
            request = ids.get(request_id) if isinstance(request_id, int) else None
            if request is not None and "result" in answer:
                self._answers[_key(*request)] = answer["result"]

    def call(self, method: str, params: list[Any]) -> Any:
        """The `result` of JSON-RPC `method` with `params` (errors: module docstring)."""
        key = _key(method, params)
        if key in self._answers:
            return self._answers.pop(key)
        if self._timed_out is not None:
            error, self._timed_out = self._timed_out, None
            raise error
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        status, data = self.post(json.dumps(request).encode(), method)
        if status != 200:
            raise HTTPError(f"{self.url} answered {method} with HTTP {status}")
        try:
            answer = json.loads(data)
        except ValueError:
            raise HTTPError(f"{self.url} answered {method} with something not JSON") from None
        if not isinstance(answer, dict):
            raise HTTPError(f"{self.url} answered {method} with no JSON-RPC object")
        if answer.get("error") is not None:
            error = answer["error"]
            if isinstance(error, dict):
                raise RPCError(error.get("code"), str(error.get("message")))
            raise RPCError(None, str(error))
        if "result" not in answer:
            raise HTTPError(f"{self.url} answered {method} without a result")
        return answer["result"]

    def post(self, body: bytes, what: str = "a request") -> tuple[int, bytes]:
        """POST `body` (a JSON-RPC request or batch, encoded) and read the answer: (HTTP
        status, body). A kept-alive connection the node had closed is opened again once.
        Raises `ConnectTimeout`, `ReadTimeout`, `ConnectionError`, `HTTPError` (not HTTP),
        `InvalidURL`; `what` names the request in their messages."""
        for attempt in (1, 2):
            reused = self._sock is not None
            try:
                return self._exchange(body)
            except (ConnectTimeout, InvalidURL):
                raise
            except TimeoutError:
                self.close()
                raise ReadTimeout(
                    f"{self.url} did not answer {what} within {self.timeout} s"
                ) from None
            except ConnectionError:
                self.close()
                if reused and attempt == 1:
                    continue  # a kept-alive connection the node had closed: once more
                raise
            except OSError as e:
                self.close()
                raise ConnectionError(f"{self.url} broke off {what}: {e!r}") from e
            except ValueError as e:
                self.close()
                raise HTTPError(f"{self.url} answered {what} with something not HTTP") from e
        raise AssertionError("unreachable")  # the second attempt returned or raised

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Rpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the reads of a health check -----

    def block(self, number: int | None = None) -> tuple[int, int]:
        """(number, unix timestamp) of block `number`, or of the latest block (None)."""
        tag = "latest" if number is None else hex(number)
        block = self.call("eth_getBlockByNumber", [tag, False])
        if not isinstance(block, dict):
            raise RPCError(None, f"block {tag} not found")
        return int(block["number"], 16), int(block["timestamp"], 16)

    def chain_id(self) -> int:
        """The chain id (`eth_chainId`)."""
        return int(self.call("eth_chainId", []), 16)

    def balance(self, address: str) -> int:
        """The native balance of `address` at the latest block, in wei."""
        return int(self.call("eth_getBalance", [address, "latest"]), 16)


def _key(method: str, params: list[Any]) -> str:
    return json.dumps([method, params])
