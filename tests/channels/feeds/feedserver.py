"""A real HTTP server on 127.0.0.1 for the feed poller's tests (stdlib, one thread per request).

Serves files (corpora and our fixtures) with ETag and Last-Modified and honours conditional
requests for real, plus misbehaving endpoints: 429/503 with Retry-After (sane, decades away,
a far date, garbage), a redirect to the cloud metadata address, a 50 MB body (declared
or streamed without a length; generated, never stored), a redirect loop, a slow response, an
HTML page. Every request is recorded (path, status, headers) so tests assert on the traffic.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIFTY_MB = 50 * 1024 * 1024
_CHUNK = b"<!-- padding -->" * 4096  # 64 KiB


@dataclass
class Hit:
    path: str
    status: int
    headers: dict[str, str]


@dataclass
class FeedServer:
    """State shared with the handler: served roots, in-memory documents, the request log."""

    roots: dict[str, Path]
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def statuses(self, path: str) -> list[int]:
        with self.lock:
            return [hit.status for hit in self.hits if hit.path == path]

    def record(self, hit: Hit) -> None:
        with self.lock:
            self.hits.append(hit)


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            server.record(Hit(self.path, status, dict(self.headers.items())))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/ratelimited":
                return self._send(429, b"slow down", {"Retry-After": "120"})
            if path == "/unavailable":
                return self._send(503, b"maintenance", {"Retry-After": formatdate(usegmt=True)})
            if path == "/ratelimited/decades":
                return self._send(429, b"go away", {"Retry-After": "999999999"})
            if path == "/ratelimited/far-date":
                return self._send(503, b"back in 2099", {"Retry-After": "Thu, 01 Jan 2099 00:00:00 GMT"})
            if path == "/ratelimited/garbage":
                return self._send(429, b"slow down", {"Retry-After": "-5"})
            if path == "/to-metadata":  # a public feed redirecting into the cloud metadata service
                return self._send(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
            if path == "/gone":
                return self._send(404, b"no such feed")
            if path in ("/loop/a", "/loop/b"):
                target = "/loop/b" if path == "/loop/a" else "/loop/a"
                return self._send(302, b"", {"Location": target})
            if path == "/slow":
                server.stop.wait(3.0)  # far past the client's timeout; released at shutdown
                return self._send(200, b"<rss/>", {"Content-Type": "application/rss+xml"})
            if path == "/huge/declared":
                return self._huge(declared=True)
            if path == "/huge/streamed":
                return self._huge(declared=False)
            if path in server.documents:
                body, content_type = server.documents[path]
                return self._conditional(body, content_type)
            prefix, _, rest = path.lstrip("/").partition("/")
            root = server.roots.get(prefix)
            if root is not None and rest:
                file = (root / rest).resolve()
                if file.is_file() and file.is_relative_to(root.resolve()):
                    return self._conditional(file.read_bytes(), "application/xml")
            return self._send(404, b"not found")

        def _conditional(self, body: bytes, content_type: str) -> None:
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            last_modified = "Mon, 23 Nov 2026 10:00:00 GMT"
            validators = {"ETag": etag, "Last-Modified": last_modified}
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, b"", validators)
            return self._send(200, body, {"Content-Type": content_type, **validators})

        def _huge(self, *, declared: bool) -> None:
            server.record(Hit(self.path, 200, dict(self.headers.items())))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            if declared:
                self.send_header("Content-Length", str(FIFTY_MB))
            self.end_headers()  # HTTP/1.0 without a length: the body ends when we close
            sent = 0
            try:
                self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>')
                while sent < FIFTY_MB and not server.stop.is_set():
                    self.wfile.write(_CHUNK)
                    sent += len(_CHUNK)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cut us off, as it should

    return Handler


@contextmanager
def serve(roots: dict[str, Path], *, host: str = "127.0.0.1", port: int = 0) -> Iterator[FeedServer]:
    """Run a ``FeedServer`` on ``host`` and ``port`` (a free one by default) during the block."""
    state = FeedServer(roots=roots)
    httpd = ThreadingHTTPServer((host, port), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://{host}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
