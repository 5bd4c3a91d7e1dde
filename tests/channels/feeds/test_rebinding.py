"""DNS rebinding: the poller connects to the address the policy vetted, never to a later answer.

Two real servers share one port: a stand-in for the feed's public host on 127.0.0.2 (the test
policy treats that one address as public) and an "internal" server on 127.0.0.1 that must never
see a request. The feed's host is ``localhost``: the system resolver (what an HTTP client would
ask on its own) answers 127.0.0.1, the rebound address; the policy's stand-in resolver answers
127.0.0.2 first and 127.0.0.1 after that. No DNS query leaves the machine.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from channels.feeds.addresses import AddressPolicy, RefusedFeedURL, VettedTransport
from channels.feeds.fetch import build_client, fetch_feed
from channels.feeds.settings import FeedConfig, FeedSettings
from channels.feeds.source import FeedSource
from hub.models import Envelope
from tests.channels.feeds.conftest import FIXTURES, drain
from tests.channels.feeds.feedserver import FeedServer, serve

STAND_IN = "127.0.0.2"  # plays the feed's public address
DEFAULT = FeedSettings(timeout_s=2.0)  # internal addresses refused
FEED = "/fixtures/feed__atom03.xml"


class StandInLooksPublic(AddressPolicy):
    """Judges every address as production does, except the stand-in for a public host."""

    def address_kind(self, address: str) -> str | None:
        return None if address == STAND_IN else super().address_kind(address)


class Rebinding:
    """A resolver answering the stand-in address first and 127.0.0.1 ever after."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str, timeout_s: float) -> Sequence[str]:
        self.asked.append(host)
        return [STAND_IN] if len(self.asked) == 1 else ["127.0.0.1"]


def _can_bind(host: str) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


@contextmanager
def vetted_and_internal() -> Iterator[tuple[FeedServer, FeedServer, int]]:
    """The stand-in server and the internal one, listening on the same port."""
    if not _can_bind(STAND_IN):
        pytest.skip(f"cannot listen on {STAND_IN} (only 127.0.0.1 on this loopback)")
    roots = {"fixtures": FIXTURES}
    with ExitStack() as stack:
        for _ in range(20):
            vetted = stack.enter_context(serve(roots, host=STAND_IN))
            port = int(vetted.base_url.rsplit(":", 1)[1])
            try:
                internal = stack.enter_context(serve(roots, port=port))
            except OSError:
                continue  # the port is taken on 127.0.0.1: another one
            yield vetted, internal, port
            return
        pytest.fail("no port free on both loopback addresses")


def test_fetch_connects_to_the_vetted_address_not_the_rebound_one() -> None:
    with vetted_and_internal() as (vetted, internal, port):
        policy = StandInLooksPublic.from_settings(DEFAULT, resolve=Rebinding())
        url = f"http://localhost:{port}{FEED}"
        with build_client(DEFAULT, policy) as client:
            result = fetch_feed(client, url, max_bytes=1 << 20, deadline_s=5.0, max_retry_after_s=60)
            assert result.status == 200 and result.url == url
            assert result.content == (FIXTURES / "feed__atom03.xml").read_bytes()
            # The next lookup answers 127.0.0.1: refused before anything is sent, although a
            # kept-alive connection to the vetted address is still open.
            with pytest.raises(RefusedFeedURL, match=r"localhost resolves to 127\.0\.0\.1 \(loopback"):
                fetch_feed(client, url, max_bytes=1 << 20, deadline_s=5.0, max_retry_after_s=60)
        assert vetted.statuses(FEED) == [200]
        assert vetted.hits[0].headers["Host"] == f"localhost:{port}"  # the name, not the address
        assert internal.hits == []


def test_every_redirect_hop_is_resolved_and_vetted_again() -> None:
    with vetted_and_internal() as (vetted, internal, port):
        resolver = Rebinding()
        policy = StandInLooksPublic.from_settings(DEFAULT, resolve=resolver)
        url = f"http://localhost:{port}/loop/a"  # redirects to /loop/b on the same host
        with build_client(DEFAULT, policy) as client, pytest.raises(RefusedFeedURL, match=r"127\.0\.0\.1"):
            fetch_feed(client, url, max_bytes=1024, deadline_s=5.0, max_retry_after_s=60)
        assert resolver.asked == ["localhost", "localhost"]  # once per hop
        assert vetted.statuses("/loop/a") == [302] and vetted.statuses("/loop/b") == []
        assert internal.hits == []


def test_poller_emits_what_the_vetted_address_served() -> None:
    with vetted_and_internal() as (vetted, internal, port):
        policy = StandInLooksPublic.from_settings(DEFAULT, resolve=Rebinding())
        feed = FeedConfig(url=f"http://localhost:{port}{FEED}")
        items, _ = drain(FeedSource([feed], DEFAULT, once=True, address_policy=policy))
        assert [type(item) for item in items] == [Envelope]
        assert vetted.statuses(FEED) == [200] and internal.hits == []


# TLS: the connection goes to an address, the certificate is checked for the name -----------


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a test certificate with openssl: {exc}")
    return cert, key


@contextmanager
def https_server(cert: Path, key: str | Path) -> Iterator[tuple[int, list[str | None], list[str]]]:
    """An HTTPS server on the stand-in address: (port, SNI names seen, Host headers seen)."""
    server_names: list[str | None] = []
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            hosts.append(self.headers.get("Host", ""))
            body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    httpd = ThreadingHTTPServer((STAND_IN, 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], server_names, hosts
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_tls_is_verified_for_the_host_name_while_connecting_to_the_vetted_address(tmp_path: Path) -> None:
    if not _can_bind(STAND_IN):
        pytest.skip(f"cannot listen on {STAND_IN}")
    cert, key = _certificate(tmp_path, "feeds.parley.test")
    policy = StandInLooksPublic.from_settings(DEFAULT, resolve=lambda host, timeout_s: [STAND_IN])
    trust = ssl.create_default_context(cafile=str(cert))
    with https_server(cert, key) as (port, server_names, hosts):
        with httpx.Client(transport=VettedTransport(policy, verify=trust), timeout=5.0) as client:
            response = client.get(f"https://feeds.parley.test:{port}/rss")
            assert response.status_code == 200
            # Another name on the same address: its certificate does not match, refused.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                client.get(f"https://other.parley.test:{port}/rss")
        assert server_names == ["feeds.parley.test", "other.parley.test"]
        assert hosts == [f"feeds.parley.test:{port}"]
