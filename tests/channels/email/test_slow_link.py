"""A slow link to a real Dovecot: big mail must not livelock the catch-up.

``ThrottlingProxy`` sits between the source and Dovecot and slows the server's replies to a
fixed byte rate, so a large message cannot arrive within the (short) command timeout while
small ones do. The source must halve its fetch batch, fetch the small messages around the big
one, dead-letter the big one (naming its UID and size) and move its cursor past it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from channels.email.source import IMAPSource
from hub.models import DeadLetter, Envelope
from tests.channels.email.conftest import Dovecot
from tests.channels.email.test_source import build, drain, mail

pytestmark = pytest.mark.dovecot


class ThrottlingProxy:
    """TCP proxy on 127.0.0.1: client-to-server at full speed, server-to-client at ``rate`` B/s."""

    def __init__(self, upstream: tuple[str, int], rate: int, chunk: int = 4096) -> None:
        self.upstream, self.rate, self.chunk = upstream, rate, chunk
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(self.chunk):
                sink.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            # One side gone: end the other too (the abandoned big transfer stops here).
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@pytest.fixture
def slow_link(dovecot: Dovecot) -> Iterator[ThrottlingProxy]:
    proxy = ThrottlingProxy((dovecot.host, dovecot.port), rate=64 * 1024)
    try:
        yield proxy
    finally:
        proxy.close()


def big_mail(megabytes: float) -> bytes:
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n"
    lines = int(megabytes * 1024 * 1024 / len(line))
    return (
        b"From: Big Sender <big@example.org>\r\nTo: support@parley.test\r\nSubject: huge scan\r\n"
        + f"Message-ID: <big-{uuid.uuid4().hex[:8]}@example.org>\r\n".encode()
        + b"Date: Mon, 16 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        + b'Content-Type: application/octet-stream; name="scan.bin"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + line * lines
    )


def test_big_mail_on_a_slow_link_is_dead_lettered_and_the_cursor_moves_on(
    dovecot: Dovecot, slow_link: ThrottlingProxy
) -> None:
    folder = f"T{uuid.uuid4().hex[:10]}"
    dovecot.create_folder(folder)
    big = big_mail(1)  # ~16 s at 64 KB/s: never inside the 1 s timeout
    for raw in (mail(1), big, mail(3), mail(4)):
        dovecot.append(raw, folder)
    mailbox = dovecot.mailbox(
        folders=[folder],
        imap_port=slow_link.port,
        timeout_s=1.0,
        fetch_batch=2,
        fetch_attempts=2,
        reconnect_initial_s=0.05,
    )
    part = build(IMAPSource([mailbox], once=True))
    try:
        # [1,2] times out -> batch 1; 1 arrives; 2 alone times out twice -> dead letter; 3, 4 arrive.
        items = drain(part, timeout=60)
        state = part.snapshot()
    finally:
        part.close()
    assert [type(i) for i in items] == [Envelope, DeadLetter, Envelope, Envelope]
    first, dead, third, fourth = items
    assert isinstance(first, Envelope) and b"Message number 1" in first.payload
    assert isinstance(third, Envelope) and b"Message number 3" in third.payload
    assert isinstance(fourth, Envelope) and b"Message number 4" in fourth.payload
    assert isinstance(dead, DeadLetter)
    assert dead.stage == "source.imap"
    assert "UID 2" in dead.reason and f"{len(big)} bytes" in dead.reason
    assert "timed out 2 times" in dead.reason
    assert state is not None and state["last_uid"] == 4
    assert dead.raw_ref == f"imap:support/{folder}/{state['uidvalidity']}/2"

    # Resuming from the cursor neither re-reads nor retries anything.
    dovecot.append(mail(5), folder)
    resumed = build(IMAPSource([mailbox], once=True), state)
    try:
        again = drain(resumed, timeout=30)
    finally:
        resumed.close()
    assert [type(i) for i in again] == [Envelope]
    assert b"Message number 5" in again[0].payload
