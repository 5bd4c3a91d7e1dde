"""The API's outer checks, in front of every route (authentication is per route: ``api.deps``).

In the order a request meets them:

1. **Request id** - every request gets an id (a sane incoming ``X-Request-ID`` is kept), put
   in ``request.state.request_id`` for the audit log and echoed as ``X-Request-ID``.
2. **Host** - a ``Host`` not among :func:`api.hosts.allowed_hosts` is answered 400: a
   DNS-rebinding page cannot reach a hub on a laptop.
3. **CORS** - closed unless ``api.cors_origins`` lists origins (credentials allowed for them).
4. **Cross-site writes** - a state-changing request (not GET/HEAD/OPTIONS) whose ``Origin``
   (or, without one, ``Referer``) is neither the hub's own origin, ``api.public_url`` nor a
   CORS origin is 403; ``Origin: null`` too. A state-changing request whose body is a form or
   plain text (``application/x-www-form-urlencoded``, ``multipart/form-data``,
   ``text/plain``: what a page can send cross-site without a CORS preflight) is 415: the API
   speaks JSON (and CSV where a route says so).

``/webhooks/...`` is exempt from 4: platforms are not browsers, post forms (Twilio does) and
are authenticated by their signatures instead.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.hosts import allowed_hosts, host_allowed
from hub.errors import FatalError
from hub.settings import Settings

__all__ = ["cross_site_refusal", "install_security", "origin_of"]

log = logging.getLogger("parley.api.security")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the bodies a cross-site page can send without a CORS preflight
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
#: routes that answer platforms, not browsers (authenticated by signature)
EXEMPT_PREFIXES = ("/webhooks/",)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased, default ports left out; ``None`` when
    ``url`` has no scheme and host (``null``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{scheme}://{host}:{port}"


def cross_site_refusal(
    method: str, path: str, headers: Mapping[str, str], own_origin: str | None, trusted: frozenset[str]
) -> tuple[int, str] | None:
    """``(status, reason)`` when check 4 of the module doc refuses the request; else ``None``.

    ``headers`` are lower-case keyed; ``own_origin`` is the origin the request was sent to;
    ``trusted`` the other origins allowed to write (``api.public_url``, CORS origins)."""
    if method.upper() in SAFE_METHODS or path.startswith(EXEMPT_PREFIXES):
        return None
    origin = headers.get("origin")
    source = origin if origin is not None else headers.get("referer")
    if source is not None:
        claimed = origin_of(source)
        if claimed is None or (claimed != own_origin and claimed not in trusted):
            return 403, "cross-site request refused: its Origin is not this hub's"
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in FORM_TYPES:
        return 415, f"{content_type} bodies are not accepted: send JSON (Content-Type: application/json)"
    return None


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host")
            if not host_allowed(host, self.allowed):
                log.info("refused a request for Host %r (not in api.allowed_hosts)", (host or "")[:100])
                await _refuse(400, "Host not allowed: add it to api.allowed_hosts")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CrossSiteGuardMiddleware:
    def __init__(self, app: ASGIApp, trusted: frozenset[str]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            host = headers.get("host")
            own = origin_of(f"{scope.get('scheme', 'http')}://{host}") if host else None
            refusal = cross_site_refusal(scope["method"], scope["path"], headers, own, self.trusted)
            if refusal is not None:
                await _refuse(*refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the checks of the module doc to ``app`` (call once, in the factory, after the error
    handlers: the last middleware added runs first)."""
    cors = [origin_of(origin) for origin in settings.api.cors_origins]
    if any(origin is None for origin in cors):
        raise FatalError(
            "api.cors_origins must list origins like https://console.example.com (no '*': "
            f"credentials are allowed for them); got {settings.api.cors_origins}"
        )
    trusted = {origin for origin in cors if origin}
    public = origin_of(settings.api.public_url) if settings.api.public_url else None
    if public:
        trusted.add(public)
    app.add_middleware(CrossSiteGuardMiddleware, trusted=frozenset(trusted))
    if cors:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(origin for origin in cors if origin),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts(settings))
    app.add_middleware(RequestIdMiddleware)
