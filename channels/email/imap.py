"""One IMAP folder over one ``aioimaplib`` connection: catch up after a UID, wait for news.

``IMAPFolderReader`` is the only place that talks IMAP, and the only place that translates
aioimaplib's and the network's exceptions into hub errors: a refused login is
``LoginRefused`` (fatal until the configuration changes), a folder that does not exist is
``FolderMissing``, a dropped connection, timeout or protocol error is ``RetriableError``.
Every command has the mailbox's ``timeout_s``. Messages are fetched with ``BODY.PEEK[]`` so they
stay unread unless the mailbox is configured with ``mark_seen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable
from typing import Any, TypeVar

import aioimaplib

from channels.email.imap_wire import FetchedMail, parse_fetch_lines, quote_mailbox
from channels.email.settings import MailboxSettings
from hub.errors import FatalError, RetriableError

__all__ = ["FetchTimedOut", "FolderMissing", "IMAPFolderReader", "LoginRefused", "folder_status"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_SIZE = re.compile(rb"\bUID (\d+).*\bRFC822\.SIZE (\d+)|\bRFC822\.SIZE (\d+).*\bUID (\d+)")


class LoginRefused(FatalError):
    """The server refused the mailbox's credentials."""


class FolderMissing(FatalError):
    """The configured folder does not exist (renamed, deleted, or a typo)."""


class FetchTimedOut(RetriableError):
    """A ``UID FETCH`` did not finish within the timeout (too much mail for the link).

    The connection still carries the abandoned response: reconnect before the next command.
    """


class IMAPFolderReader:
    """Reads one folder of one mailbox; use ``async with`` to connect, login and select."""

    def __init__(self, mailbox: MailboxSettings, folder: str) -> None:
        self.mailbox = mailbox
        self.folder = folder
        self.uidvalidity = 0
        self._client: aioimaplib.IMAP4 | None = None
        self._lost: asyncio.Future[Exception | None] | None = None
        self.where = f"{mailbox.username}@{mailbox.imap_host}:{mailbox.imap_port}/{folder}"

    async def __aenter__(self) -> IMAPFolderReader:
        try:
            await self._guard(self._connect(), "connect")
        except BaseException:
            await self.close()  # a refused login or missing folder must not leak the socket
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def client(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise RetriableError(f"IMAP {self.where}: not connected")
        return self._client

    async def _guard(
        self, step: Awaitable[T], what: str, timed_out: type[RetriableError] = RetriableError
    ) -> T:
        """Run one IMAP step; translate every library and network failure (one place)."""
        try:
            return await asyncio.wait_for(self._unless_lost(step), self.mailbox.timeout_s)
        except (FatalError, RetriableError):
            raise
        except ssl.SSLCertVerificationError as exc:
            raise FatalError(
                f"IMAP {self.where}: server certificate not trusted ({exc.verify_message}); "
                "set the mailbox's ca_file for a self-signed server"
            ) from exc
        except (TimeoutError, aioimaplib.CommandTimeout) as exc:
            raise timed_out(f"IMAP {self.where}: {what} timed out after {self.mailbox.timeout_s}s") from exc
        except (OSError, ssl.SSLError, aioimaplib.AioImapException, EOFError) as exc:
            raise RetriableError(
                f"IMAP {self.where}: {what} failed: {exc.__class__.__name__}: {exc}"
            ) from exc

    async def _unless_lost(self, step: Awaitable[T]) -> T:
        # aioimaplib leaves a command waiting until its timeout when the server hangs up
        # (e.g. "* BYE" after the folder was deleted); the connection-lost signal ends it now.
        task = asyncio.ensure_future(step)
        if self._lost is None:
            return await task
        waiters: set[asyncio.Future[Any]] = {task, self._lost}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            raise RetriableError(f"IMAP {self.where}: server closed the connection")
        return task.result()

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(exc)

    async def _connect(self) -> None:
        mb = self.mailbox
        client: aioimaplib.IMAP4
        if mb.imap_tls == "ssl":
            client = aioimaplib.IMAP4_SSL(
                host=mb.imap_host, port=mb.imap_port, timeout=mb.timeout_s, ssl_context=mb.tls_context()
            )
        else:
            client = aioimaplib.IMAP4(host=mb.imap_host, port=mb.imap_port, timeout=mb.timeout_s)
        self._client = client
        self._lost = asyncio.get_running_loop().create_future()
        client.protocol.conn_lost_cb = self._connection_lost
        await client.wait_hello_from_server()
        if mb.imap_tls == "starttls":
            await self._starttls(client)
        response = await client.login(mb.username, mb.imap_password())
        if response.result != "OK":
            text = b" ".join(bytes(x) for x in response.lines).decode("utf-8", "replace")
            raise LoginRefused(
                f"IMAP login refused for {self.where}: {text}; check username and (app) password"
            )
        response = await client.select(quote_mailbox(self.folder))
        if response.result != "OK":
            text = b" ".join(bytes(x) for x in response.lines).decode("utf-8", "replace")
            raise FolderMissing(f"IMAP folder {self.folder!r} cannot be selected on {self.where}: {text}")
        for line in response.lines:
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                self.uidvalidity = int(match.group(1))
        if not self.uidvalidity:
            raise RetriableError(f"IMAP {self.where}: SELECT returned no UIDVALIDITY")

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        # aioimaplib knows the STARTTLS command but has no helper: issue it, then upgrade the
        # transport in place and re-read the capabilities (they may change after TLS).
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise FatalError(
                f"IMAP {self.where}: server does not offer STARTTLS; set imap_tls to 'ssl' or 'none'"
            )
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await protocol.execute(command)
        if response.result != "OK":
            raise RetriableError(f"IMAP {self.where}: STARTTLS refused: {response.lines}")
        loop = asyncio.get_running_loop()
        context = self.mailbox.tls_context()
        transport = await loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.mailbox.imap_host
        )
        protocol.transport = transport
        await protocol.capability()

    async def new_uids(self, after: int) -> list[int]:
        """UIDs greater than ``after``, ascending."""
        response = await self._guard(self.client.uid_search(f"UID {after + 1}:*", charset=None), "UID SEARCH")
        if response.result != "OK":
            raise RetriableError(f"IMAP {self.where}: UID SEARCH failed: {response.lines}")
        uids: set[int] = set()
        for line in response.lines[:-1]:
            uids.update(int(tok) for tok in bytes(line).split() if tok.isdigit())
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(uid for uid in uids if uid > after)

    async def fetch(self, uids: list[int]) -> list[FetchedMail]:
        """The messages with ``uids`` (missing ones come back with ``raw=None``)."""
        parts = "(UID INTERNALDATE BODY[])" if self.mailbox.mark_seen else "(UID INTERNALDATE BODY.PEEK[])"
        uid_set = ",".join(str(uid) for uid in uids)
        response = await self._guard(
            self.client.uid("fetch", uid_set, parts), f"UID FETCH of {len(uids)} message(s)", FetchTimedOut
        )
        if response.result != "OK":
            raise RetriableError(f"IMAP {self.where}: UID FETCH {uid_set} failed: {response.lines}")
        fetched = parse_fetch_lines(response.lines)
        return [fetched.get(uid, FetchedMail(uid, None, None)) for uid in uids]

    async def size_of(self, uid: int) -> int | None:
        """The size in bytes the server reports for ``uid`` (RFC822.SIZE), None if unknown."""
        try:
            response = await self._guard(
                self.client.uid("fetch", str(uid), "(UID RFC822.SIZE)"), "UID FETCH RFC822.SIZE"
            )
        except RetriableError as exc:
            log.warning("IMAP %s: size of UID %s unknown: %s", self.where, uid, exc)
            return None
        if response.result != "OK":
            return None
        for line in response.lines:
            match = _SIZE.search(bytes(line))
            if match:
                found_uid, size = (match.group(1), match.group(2)) if match.group(1) else match.group(4, 3)
                if int(found_uid) == uid:
                    return int(size)
        return None

    async def wait_for_news(self, stop: asyncio.Event) -> None:
        """Return when the folder may have changed: an IDLE push, or the poll interval passed."""
        interval = max(self.mailbox.poll_interval_s, 0.05)
        client = self.client
        if not (self.mailbox.idle and client.has_capability("IDLE")):
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            # A NOOP proves the connection is alive before the next catch-up relies on it.
            await self._guard(client.noop(), "NOOP")
            return
        idle = await self._guard(client.idle_start(timeout=interval), "IDLE")
        push = asyncio.ensure_future(client.wait_server_push(timeout=interval + self.mailbox.timeout_s))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {push, stopper}
            if self._lost is not None:
                waiters.add(self._lost)
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            push.cancel()
            client.idle_done()
            with contextlib.suppress(asyncio.CancelledError):
                await self._guard(idle, "IDLE DONE")
        # A dead connection surfaces in the next catch-up's UID SEARCH, which has a timeout.

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        lost = self._lost is not None and self._lost.done()
        if not lost:  # a LOGOUT on a dropped connection would only wait for its timeout
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), min(self.mailbox.timeout_s, 5.0))
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()


async def folder_status(mailbox: MailboxSettings) -> dict[str, str]:
    """Per folder, "ok: N messages (UIDVALIDITY v)" or the error: for a ``parley`` check command.

    Connects, logs in and selects each folder exactly as the source does, so a wrong password,
    an untrusted certificate or a missing folder shows here with the same message.
    """
    status: dict[str, str] = {}
    for folder in mailbox.folders:
        try:
            async with IMAPFolderReader(mailbox, folder) as reader:
                count = len(await reader.new_uids(0))
                status[folder] = f"ok: {count} messages (UIDVALIDITY {reader.uidvalidity})"
        except (FatalError, RetriableError) as exc:
            status[folder] = f"error: {exc}"
    return status
