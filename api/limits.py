"""Request bodies bounded before the app sees them: an ASGI middleware.

`BodyLimit` reads a request's body (at most `max_body_bytes`) before the app runs and then
hands the app exactly those bytes:

- Content-Length above the limit: 413 `body_too_large` at once, nothing read; a malformed
  Content-Length: 400 `invalid_request`.
- A body streamed without Content-Length (chunked) that passes the limit: 413
  `body_too_large` as soon as it does; what was read is dropped.
- A body that may be parsed as JSON (no Content-Type, `application/json` or `*+json`, or any
  type but the HTML forms' `application/x-www-form-urlencoded` and `multipart/form-data`)
  nested deeper than `max_json_depth`: 422 `json_too_deep`, before any parser sees it
  (`heitje.jsonguard`: CPython's parser can overflow the C stack on deep input); such a body
  that is not UTF-8 (RFC 8259 section 8.1): 400 `json_not_utf8`, since its depth cannot be
  counted byte by byte.

The routes that take files (`UPLOAD_ROUTES`: a task sent in with proof, a bank statement) may
have bodies up to `UPLOAD_BODY_BYTES` (or `max_body_bytes`, when that is larger); the files' own
limits are `domain.proofs`' and `domain.settlement.bank`'s.

Refusals are `{"code", "message"}` JSON like every other (`api.errors`). A refused body that
is still arriving is read on (and dropped) up to `DRAIN_FACTOR` times the limit, so that a
client sending it sees the 413 instead of a reset connection; past that the connection closes.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.security import SESSION_COOKIE
from heitje.jsonguard import JsonNotUtf8, JsonTooDeep, check_json_depth

DRAIN_FACTOR = 4
"""A refused body is read and dropped up to this many times the limit before answering."""

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

UPLOAD_BODY_BYTES = 32 * 1024 * 1024
"""Largest body of a photo upload: three photos of at most 10 MiB each, a note, the form."""
UPLOAD_ROUTES = (
    ("POST", re.compile(r"/tasks/[^/]+(?:/proof)?")),
    ("POST", re.compile(r"/office/bank")),
)
"""(method, path) of the routes that take files: photos with `POST /tasks/{ref}/proof` (API)
and `POST /tasks/{ref}` (the task page's forms), a bank statement with `POST /office/bank`
(finance; the file's own limit is `domain.settlement.bank`'s). Their larger limit applies only
to requests that show a bearer token or a session cookie."""


def _credentialed(headers: Headers) -> bool:
    """The request shows a bearer token or a session cookie (checked later by the route; here
    it only decides whether a photo upload's larger body limit applies)."""
    if headers.get("authorization", "").lower().startswith("bearer "):
        return True
    return any(
        part.strip().startswith(SESSION_COOKIE + "=")
        for part in headers.get("cookie", "").split(";")
    )


def _may_be_json(content_type: str | None) -> bool:
    """True unless the body is an HTML form (which FastAPI never parses as JSON)."""
    main = (content_type or "").split(";", 1)[0].strip().lower()
    return main not in _FORMS


class BodyLimit:
    """ASGI middleware: bounded request bodies (size and JSON depth), see the module doc."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        headers = Headers(scope=scope)
        if _credentialed(headers) and any(
            scope.get("method") == method and pattern.fullmatch(scope.get("path", ""))
            for method, pattern in UPLOAD_ROUTES
        ):  # only a caller who shows a session may send photos (anonymous: 1 MiB, as ever)
            limit = max(limit, UPLOAD_BODY_BYTES)
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
                if length < 0:
                    raise ValueError(declared)
            except ValueError:
                await _refuse(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if length > limit:
                await self._too_large(receive, send, 0, length, limit)
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before the body was complete: nothing to answer
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > limit:
                received = len(body)
                body.clear()
                await self._too_large(receive, send, received if more else -1, None, limit)
                return
        data = bytes(body)
        if data and _may_be_json(headers.get("content-type")):
            try:
                check_json_depth(data, self.max_json_depth)  # linear time, whatever the body
            except (JsonTooDeep, JsonNotUtf8) as e:
                await _refuse(send, e.http_status, e.code, e.message)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(
        self, receive: Receive, send: Send, received: int, declared: int | None, limit: int
    ) -> None:
        """Answer 413 (`limit`: the route's). `received`: bytes already read of a body still
        arriving (-1: it has ended); with a `declared` length the body is drained only if it
        is small enough."""
        drain_cap = limit * DRAIN_FACTOR
        if declared is not None:
            received = 0 if declared <= drain_cap else -1
        while received >= 0 and received <= drain_cap:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await _refuse(
            send,
            413,
            "body_too_large",
            f"request body larger than {limit} bytes",
        )


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    """Send a `{code, message}` JSON refusal; the connection closes after it."""
    payload = json.dumps({"code": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
