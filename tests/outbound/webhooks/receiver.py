"""A real HTTP receiver for webhook tests and the bench: records every request and answers
from a script (a status per attempt, a Retry-After, a delay), then 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Received", "Receiver", "receiving"]


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


@dataclass
class Receiver:
    """What to answer and what came in. ``script`` holds (status, headers) answered to the
    first requests in order; after it, ``default``. ``delay_s`` is slept before answering."""

    url: str = ""
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_first(self, n: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        self.script = [(status, dict(headers or {})) for _ in range(n)]

    def _answer(self) -> tuple[int, dict[str, str]]:
        with self._lock:
            return self.script.pop(0) if self.script else (self.default, {})

    def ids(self) -> list[str]:
        """The ``webhook-id`` of every request, in arrival order."""
        return [r.headers.get("webhook-id", "") for r in self.requests]

    def delivered_ids(self) -> list[str]:
        """The ``webhook-id`` of the requests answered 2xx."""
        return [r.headers.get("webhook-id", "") for r in self.requests if 200 <= r.status < 300]


@contextmanager
def receiving(host: str = "127.0.0.1", port: int = 0, quiet_body: bytes = b"ok") -> Iterator[Receiver]:
    """A receiver listening on ``host`` (a free port unless given) until the block ends."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, extra = receiver._answer()
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver._lock:
                receiver.requests.append(Received(self.path, headers, body, status))
            try:
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(quiet_body)))
                self.end_headers()
                self.wfile.write(quiet_body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    receiver.url = f"http://{host}:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
