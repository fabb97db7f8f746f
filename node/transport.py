"""web3's HTTP provider over kept-alive sockets (`node.rpc.Rpc`), one connection per thread.

web3's own `HTTPProvider` sends each JSON-RPC request through `requests`: about 3 ms of Python
per request (sessions, adapters, header parsing by the email package), several times what a
local node takes to answer. A payment makes about seven requests, so that was most of its time.
`KeepAliveHTTPProvider` is the same provider (web3 encodes, decodes, caches and retries as
before) with only the HTTP exchange replaced: each thread keeps one connection to the node.

Failures are raised as the `requests` exceptions web3's provider raises, so every caller's
handling stays as it was: `requests.ConnectTimeout`, `requests.ReadTimeout` (both
`requests.Timeout`), `requests.ConnectionError`, `requests.HTTPError` (a status other than
200, or an answer that is not HTTP), `requests.exceptions.InvalidURL`.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from web3 import HTTPProvider
from web3._utils.http_session_manager import HTTPSessionManager

from node import rpc


class _ThreadSockets(HTTPSessionManager):
    """The part of web3's session manager `HTTPProvider` posts through, over one `rpc.Rpc`
    per thread and endpoint."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        self._local = threading.local()

    def make_post_request(self, endpoint_uri: Any, data: Any, **kwargs: Any) -> bytes:
        """POST `data` (encoded JSON-RPC) to `endpoint_uri`; the answer's body. Raises the
        `requests` exceptions of the module docstring."""
        connections: dict[str, rpc.Rpc] | None = getattr(self._local, "connections", None)
        if connections is None:
            connections = self._local.connections = {}
        url = str(endpoint_uri)
        connection = connections.get(url)
        if connection is None:
            timeout = kwargs.get("timeout", self._timeout)
            seconds = float(timeout) if isinstance(timeout, int | float) else self._timeout
            connection = connections[url] = rpc.Rpc(url, seconds)
        body = data if isinstance(data, bytes) else str(data).encode()
        try:
            status, answer = connection.post(body)
        except rpc.ConnectTimeout as e:
            raise requests.ConnectTimeout(str(e)) from e
        except rpc.ReadTimeout as e:
            raise requests.ReadTimeout(str(e)) from e
        except rpc.InvalidURL as e:
            raise requests.exceptions.InvalidURL(str(e)) from e
        except rpc.HTTPError as e:
            raise requests.HTTPError(str(e)) from e
        except OSError as e:  # ConnectionError and the rest of the socket's failures
            raise requests.ConnectionError(f"{url}: {e}") from e
        if status != 200:
            raise requests.HTTPError(f"{url} answered HTTP {status}")
        return answer


class KeepAliveHTTPProvider(HTTPProvider):
    """`HTTPProvider` to `endpoint_uri` whose requests go over a kept-alive connection per
    thread (module docstring); `timeout` in seconds for connecting and for each answer."""

    def __init__(self, endpoint_uri: str, timeout: float, **kwargs: Any) -> None:
        super().__init__(endpoint_uri, request_kwargs={"timeout": timeout}, **kwargs)
        self._request_session_manager = _ThreadSockets(timeout)
