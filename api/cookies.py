"""The sign-in cookies: the session (HttpOnly) and its CSRF token (readable by the console).

The session cookie is HttpOnly, ``SameSite`` as configured (Lax by default) and ``Secure``
when configured or, by default, when the request came over https. The CSRF cookie carries the
token the console must send back in ``X-CSRF-Token`` on every state-changing request made with
the session (double submit; the server also keeps its digest with the session, so a cookie
planted by a sibling subdomain does not pass).
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from crm.credentials import NewSession
from hub.settings import AuthSettings

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "SESSION_COOKIE", "clear_session_cookies", "set_session_cookies"]

SESSION_COOKIE = "parley_session"
CSRF_COOKIE = "parley_csrf"
CSRF_HEADER = "X-CSRF-Token"


def _secure(request: Request, auth: AuthSettings) -> bool:
    return auth.cookie_secure if auth.cookie_secure is not None else request.url.scheme == "https"


def set_session_cookies(
    response: Response, request: Request, auth: AuthSettings, session: NewSession
) -> None:
    """Set both cookies on ``response``, expiring with the session."""
    max_age = max(0, int((session.expires_at - datetime.now(session.expires_at.tzinfo)).total_seconds()))
    secure = _secure(request, auth)
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite=auth.cookie_samesite,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=max_age,
        httponly=False,  # the console reads it to send it back in X-CSRF-Token
        secure=secure,
        samesite=auth.cookie_samesite,
        path="/",
    )


def clear_session_cookies(response: Response, request: Request, auth: AuthSettings) -> None:
    """Tell the browser to drop both cookies."""
    secure = _secure(request, auth)
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name, path="/", secure=secure, httponly=httponly, samesite=auth.cookie_samesite
        )
