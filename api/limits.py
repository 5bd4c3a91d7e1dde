"""The request body cap: no request body larger than the settings allow reaches a route.

:class:`RequestBodyLimitMiddleware` answers 413 ``{"detail": "..."}`` (the documented error
shape) when a request declares a ``Content-Length`` over the cap, before a byte of the body is
read; and, since ``Content-Length`` may be absent (chunked uploads) or wrong, it counts the
bytes that actually arrive and stops the request as soon as they pass the cap. A body that
is never read (a route that takes none) costs nothing, whatever its size.

Every path gets ``api.max_body_bytes`` (1 MiB by default) unless an override names it: the
CSV import of segments is streamed and batched, so it gets ``api.max_import_bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestBodyLimitMiddleware", "RequestBodyTooLarge"]


class RequestBodyTooLarge(HTTPException):
    """Raised from ``receive`` when the streamed body passes the cap.

    An ``HTTPException``, so whoever is reading the body (FastAPI's body parsing, a route
    streaming it) lets it through to the exception handler, which answers 413 with
    ``{"detail": ...}``; the middleware answers it itself if it escapes the app.
    """

    def __init__(self, cap: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {cap} bytes")


def _path_pattern(template: str) -> re.Pattern[str]:
    """A route template (``/segments/{segment_id}/import``) as a regex over request paths."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


class RequestBodyLimitMiddleware:
    """Caps request bodies at ``max_bytes``, or at the cap of the first override whose route
    template matches the path."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, overrides: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = [(_path_pattern(template), cap) for template, cap in overrides]

    def cap_for(self, path: str) -> int:
        for pattern, cap in self.overrides:
            if pattern.match(path):
                return cap
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["path"])
        try:
            declared = _declared_length(scope)
        except ValueError:
            await JSONResponse(status_code=400, content={"detail": "invalid Content-Length"})(
                scope, receive, send
            )
            return
        if declared is not None and declared > cap:
            await JSONResponse(status_code=413, content={"detail": RequestBodyTooLarge(cap).detail})(
                scope, receive, send
            )
            return

        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise RequestBodyTooLarge(cap)
            return message

        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_capped, send_tracking_start)
        except RequestBodyTooLarge as exc:
            if started:
                raise
            await JSONResponse(status_code=413, content={"detail": exc.detail})(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    """The body length the request declares (None when it declares none).

    Raises ``ValueError`` for a value that is not one length (not digits, or several
    different ``Content-Length`` headers): the request is malformed."""
    values = {value for name, value in scope["headers"] if name == b"content-length"}
    if not values:
        return None
    (value,) = values  # ValueError when they disagree
    if not value.isdigit():
        raise ValueError(f"invalid Content-Length {value!r}")
    return int(value)
