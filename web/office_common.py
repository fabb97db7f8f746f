"""What the staff pages (`/office`, `web.office` and its parts) share: the signed-in staff
member, the CSRF check of their forms, and the answers for someone who may not see a page.

A page handler starts with `staff = office_session(request, ctx, ("coordinator",))`; when it
is a `Response` (the login page, or 403 for another role), return it. Otherwise it is the
`Staff` (caller and session token). Forms post `csrf_token` and the handler calls
`check_csrf(request, given)` (403 `csrf_failed`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from domain import sessions
from domain.context import Caller, Context
from domain.security import SESSION_COOKIE, csrf_token
from heitje.errors import Refused
from web.forms import login_page
from web.templating import STAFF_ROLES, render


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member: who (`caller`), the session `token` and its form token
    (`csrf`)."""

    caller: Caller
    token: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def office_session(
    request: Request, ctx: Context, roles: tuple[str, ...] = STAFF_ROLES
) -> Staff | Response:
    """The signed-in staff member when their role is one of `roles`; else the answer to
    give: the second-factor page (303) for a staff member who gave the password but not yet
    the code, the login form with 401 (coming back here after it) when nobody is signed in, a
    403 page for anyone else."""
    token = request.cookies.get(SESSION_COOKIE)
    user = sessions.session_caller(ctx, token)
    if user is None and sessions.pending_caller(ctx, token) is not None:
        return RedirectResponse("/office/second-factor", status_code=303)  # password given
    if user is None or token is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        return login_page(request, status=401, next_path=path)
    if user.role not in roles:
        return render(
            request,
            "office/forbidden.html",
            status=403,
            title="Not for you",
            user=user,
            csrf_token=csrf_token(token),
        )
    return Staff(user, token)


def check_csrf(request: Request, given: str) -> str:
    """The session token when `given` is this session's form token; else 403 `csrf_failed`."""
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token).encode(), given.encode()):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    return token
