"""Security headers on every response (OWASP Secure Headers Project, ASVS 14.4).

Pages and JSON alike get a Content-Security-Policy without inline script or style (the pages
load `/static/heitje.css` only), `frame-ancestors 'none'` (and the legacy X-Frame-Options),
`X-Content-Type-Options: nosniff`, `Referrer-Policy: strict-origin-when-cross-origin`, and,
when cookies are Secure (`HEITJE_COOKIE_SECURE`, i.e. the service is reached over HTTPS),
`Strict-Transport-Security`. Only the API browsers `/docs` and `/redoc` (`api.docs`, served from
this app's own copies of swagger-ui and redoc) get a relaxed policy: still no inline script and
nothing from another host, but inline styles (redoc writes its styles into the page), `data:`
images (swagger-ui's icons) and `blob:` workers (redoc's search).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The policy of every response but the API browsers."""

DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The relaxed policy of `/docs` and `/redoc`: this host only, scripts from files; inline
styles (redoc), `data:` images (swagger-ui) and `blob:` workers (redoc)."""

DOCS_PATHS = frozenset({"/docs", "/redoc"})

HSTS = "max-age=31536000"
"""One year, this host only (a municipality's other hosts are not ours to pin)."""


def security_headers(path: str, *, hsts: bool) -> dict[str, str]:
    """The headers a response to `path` gets (`hsts`: add Strict-Transport-Security)."""
    headers = {
        "Content-Security-Policy": DOCS_CSP if path in DOCS_PATHS else CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """ASGI middleware: adds `security_headers` to every HTTP response that does not set them
    itself."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""), hsts=self.hsts)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
