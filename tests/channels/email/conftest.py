"""Real mail servers for the email channel tests: Dovecot IMAP and aiosmtpd SMTP.

``dovecot`` starts a private Dovecot (minimal config, plaintext auth from a passwd file, maildir
under a temp dir, a free high port) and stops it afterwards. Without the ``dovecot`` binary the
tests skip, except on CI (``CI=true``), where a missing server is a failure, not a skip.
``smtp_server`` runs aiosmtpd on a free port and collects what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from channels.email.settings import MailboxSettings
from tests.conftest import free_ports

USER = "support@parley.test"
PASSWORD = "s3cret-pw"


def free_port() -> int:
    return free_ports(1)[0]


def find_dovecot() -> str | None:
    """The dovecot binary (often in /usr/sbin, which is not on every PATH), or None."""
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )


def _dovecot_binary() -> str:
    binary = find_dovecot()
    if binary is None:
        message = "dovecot not installed (Debian: apt-get install -y dovecot-imapd)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the IMAP tests")
        pytest.skip(message)
    return binary


@dataclass
class Dovecot:
    """A running private Dovecot; ``append``/``folder_*`` are test helpers using stdlib imaplib."""

    host: str
    port: int
    ssl_port: int
    #: the self-signed certificate the server presents (a CA file for clients)
    ca_file: Path
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    def mailbox(self, **overrides: Any) -> MailboxSettings:
        values: dict[str, Any] = {
            "name": "support",
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_tls": "none",
            "username": USER,
            "password": SecretStr(PASSWORD),
            "poll_interval_s": 0.2,
            "from_address": USER,
        }
        values.update(overrides)
        return MailboxSettings(**values)

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(USER, PASSWORD)
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as imap:
            typ, data = imap.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            assert typ == "OK", data

    def create_folder(self, folder: str) -> None:
        with self.client() as imap:
            typ, data = imap.create(folder)
            assert typ == "OK", data

    def delete_folder(self, folder: str) -> None:
        with self.client() as imap:
            typ, data = imap.delete(folder)
            assert typ == "OK", data

    def seen_flags(self, folder: str = "INBOX") -> list[bool]:
        with self.client() as imap:
            imap.select(folder, readonly=True)
            _, data = imap.fetch("1:*", "(FLAGS)")
            return [b"\\Seen" in line for line in data if isinstance(line, bytes)]


_CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
mail_privileged_group =
protocol imap {{
  mail_max_userip_connections = 50
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
service anvil {{
  chroot =
  # No growing login delay after the tests' deliberate wrong passwords.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
"""


def _run_as() -> tuple[str, str, int, int]:
    # Dovecot refuses mail access as root; as root we run the mail processes as "nobody".
    entry = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid


def _self_signed_cert(directory: Path) -> None:
    """A certificate for 127.0.0.1/localhost, valid for a day (for the TLS modes' tests)."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    output = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"dovecot did not start on port {port} (exit {process.poll()}):\n{output[-3000:]}")


@contextlib.contextmanager
def running_dovecot(binary: str) -> Iterator[Dovecot]:
    """Start a private Dovecot with ``binary``; stop it and remove its files on exit."""
    user, group, uid, gid = _run_as()
    # Not pytest's tmp_path: that is mode 700 under root and the "nobody" mail processes
    # must traverse it.
    root = Path(tempfile.mkdtemp(prefix="parley-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    for sub in ("mail", "home"):
        os.chown(root / sub, uid, gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port, ssl_port = free_ports(2)
    _self_signed_cert(root)
    config = root / "dovecot.conf"
    config.write_text(
        _CONFIG.format(root=root, user=user, group=group, uid=uid, gid=gid, port=port, ssl_port=ssl_port)
    )
    log = root / "dovecot.log"
    with (root / "dovecot.out").open("wb") as out:
        process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield Dovecot("127.0.0.1", port, ssl_port, root / "cert.pem", root, log, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot(_dovecot_binary()) as server:
        yield server


@dataclass
class Received:
    """What aiosmtpd accepted: envelope sender, recipients and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SMTPCollector:
    received: list[Received] = field(default_factory=list)
    #: SMTP reply to give instead of accepting ("450 ...", "550 ..."), for failure tests
    reject_with: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_with:
            return self.reject_with
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@dataclass
class SMTPServer:
    host: str
    port: int
    handler: SMTPCollector

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    handler = SMTPCollector()
    port = free_port()  # aiosmtpd's Controller cannot report a port-0 binding
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SMTPServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def run(coro: Any) -> Any:
    """Run a coroutine to completion from a sync test."""
    return asyncio.run(coro)
