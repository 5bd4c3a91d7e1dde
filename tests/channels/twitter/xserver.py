"""A local stand-in for the X API v2 (stdlib ``http.server`` on 127.0.0.1, a free port).

The real ``tweepy.Client`` talks to it through the channel's ``api_base_url`` setting. Routes
answer from scripts: ``script(method, path, *answers)`` queues answers (recorded payloads,
429s with reset headers, 503s) that are served in order, one per request; ``handle(method,
path, fn)`` answers dynamically (posting a tweet returns a fresh id and remembers it in the
account's timeline). A GET with nothing scripted is an empty page; anything else is a 404
problem document. Every request is recorded (method, path, query, headers, JSON body).
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Stream:
    """A streaming answer (the filtered stream): ``lines`` sent as chunks ``delay_s`` apart,
    then the connection held open ``hold_s`` (keep-alives are the test's own blank lines) and
    either ended properly or, with ``drop``, cut mid-stream (no final chunk: the client sees a
    broken response, as when X or a proxy drops it)."""

    lines: list[bytes]
    delay_s: float = 0.0
    hold_s: float = 0.0
    drop: bool = True


#: a scripted answer: fixed, or made when the request comes (times relative to it)
Scripted = Answer | Stream | Callable[[Call], Answer | Stream]


def page(data: list[dict[str, Any]] | None = None, next_token: str | None = None, **extra: Any) -> Answer:
    """A v2 page of ``data`` (``meta.next_token`` when there is a next page)."""
    meta: dict[str, Any] = {"result_count": len(data or [])}
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"meta": meta, **extra}
    if data:
        body["data"] = data
    return Answer(200, body)


def rate_limited(in_s: float = 1.0) -> Scripted:
    """A 429 whose ``x-rate-limit-reset`` (whole epoch seconds, as X sends it) is ``in_s``
    seconds after the request, rounded up."""

    def answer(call: Call) -> Answer:
        reset = str(math.ceil(call.at + in_s))
        body = {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        headers = {"x-rate-limit-limit": "180", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
        return Answer(429, body, headers)

    return answer


def unavailable() -> Answer:
    return Answer(503, {"title": "Service Unavailable", "detail": "Service Unavailable", "status": 503})


@dataclass
class XServer:
    """The scripts, handlers and request log shared with the handler thread."""

    base_url: str = ""
    queues: dict[tuple[str, str], list[Scripted]] = field(default_factory=dict)
    handlers: dict[tuple[str, str], Callable[[Call], Answer | Stream]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, method: str, path: str, *answers: Scripted) -> None:
        with self.lock:
            self.queues.setdefault((method, path), []).extend(answers)

    def handle(self, method: str, path: str, fn: Callable[[Call], Answer | Stream]) -> None:
        self.handlers[(method, path)] = fn

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.path == path]

    def answer(self, call: Call) -> Answer | Stream:
        with self.lock:
            self.calls.append(call)
            queue = self.queues.get((call.method, call.path))
            scripted = queue.pop(0) if queue else None
        if scripted is not None:
            return scripted(call) if callable(scripted) else scripted
        handler = self.handlers.get((call.method, call.path))
        if handler is not None:
            return handler(call)
        if call.method == "GET":
            return page([])
        return Answer(404, {"title": "Not Found Error", "detail": f"no route {call.path}", "status": 404})


def _handler(server: XServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            call = Call(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query)),
                {k.lower(): v for k, v in self.headers.items()},
                body,
                time.time(),
            )
            answer = server.answer(call)
            if isinstance(answer, Stream):
                self._stream(answer)
                return
            if answer.delay_s:
                time.sleep(answer.delay_s)
            content = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def _stream(self, stream: Stream) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for line in stream.lines:
                    chunk = line + b"\r\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    time.sleep(stream.delay_s)
                time.sleep(stream.hold_s)
                if not stream.drop:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
            except OSError:
                pass  # the client went away first
            self.close_connection = True
            if stream.drop:
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

    return Handler


@contextmanager
def running_x_server() -> Iterator[XServer]:
    """An ``XServer`` listening on 127.0.0.1 (a free port) until the block ends."""
    state = XServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="x-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
