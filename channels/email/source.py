"""Bytewax source reading IMAP mailboxes: one partition per mailbox folder.

Each partition emits ``Envelope(channel="email", kind="rfc822", account=<mailbox name>,
payload=<raw bytes>, raw_ref="imap:<mailbox>/<folder>/<uidvalidity>/<uid>")`` for every new
message, and ``DeadLetter`` for a message the server will not hand over or for a mailbox that
cannot be read (refused login, vanished folder), so the problem is visible, not silent.

Resume state is the cursor ``{"uidvalidity": int, "last_uid": int}`` of the last *emitted*
message: a restart neither re-reads nor skips. When the server's UIDVALIDITY changes (the folder
was recreated) every UID is new, so the folder is read again from the start; dedupe by
Message-ID absorbs the repeats.

``next_batch`` never blocks: IMAP runs on an asyncio loop in a background thread per partition
(IDLE where offered and enabled, polling otherwise; reconnect with exponential backoff), handing
messages over through a bounded queue. ``once=True`` ends each partition after one catch-up pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from channels.base import NamedSource
from channels.email.batching import FetchBatchPolicy
from channels.email.imap import FetchTimedOut, IMAPFolderReader
from channels.email.parse import RFC822
from channels.email.settings import CHANNEL, MailboxSettings, email_settings
from hub.backoff import backoff_delay
from hub.errors import FatalError, ParleyError, RetriableError
from hub.models import DeadLetter, Envelope
from hub.settings import Settings

__all__ = ["EmailItem", "IMAPSource", "sources"]

log = logging.getLogger(__name__)

EmailItem = Envelope | DeadLetter
STAGE = "source.imap"
#: once-mode gives up on a passing failure (connection refused...) after this many attempts
ONCE_ATTEMPTS = 3


@dataclass(frozen=True)
class _Fetched:
    uidvalidity: int
    uid: int | None
    item: EmailItem


_END = object()


def _batch_policy(mailbox: MailboxSettings) -> FetchBatchPolicy:
    return FetchBatchPolicy(mailbox.fetch_batch, give_up_after=mailbox.fetch_attempts)


class _FolderWorker(threading.Thread):
    """Reads one folder on its own asyncio loop and puts ``_Fetched`` items on ``out``."""

    def __init__(
        self,
        mailbox: MailboxSettings,
        folder: str,
        cursor: tuple[int, int],
        once: bool,
        out: queue.Queue[Any],
    ) -> None:
        super().__init__(name=f"imap-{mailbox.name}-{folder}", daemon=True)
        self.mailbox, self.folder, self.once, self.out = mailbox, folder, once, out
        self.uidvalidity, self.last_uid = cursor
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopped = threading.Event()
        self._reported: set[str] = set()
        #: fetch batch size for this folder; survives reconnects (not restarts)
        self.batches = _batch_policy(mailbox)

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # _main handles errors; this is the last guard before the thread ends
            log.exception("IMAP worker %s crashed", self.name)
        finally:
            self._put(_END)

    def stop(self) -> None:
        self._stopped.set()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)

    async def _main(self) -> None:
        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        if self._stopped.is_set():
            return
        failures = 0
        while not self._stop_event.is_set():
            try:
                async with IMAPFolderReader(self.mailbox, self.folder) as reader:
                    failures = 0
                    self._check_uidvalidity(reader.uidvalidity)
                    await self._catch_up(reader)
                    if self.once:
                        return
                    while not self._stop_event.is_set():
                        await reader.wait_for_news(self._stop_event)
                        await self._catch_up(reader)
            except Exception as exc:
                if not isinstance(exc, ParleyError):
                    # A bug or an untranslated library error must not end a live mailbox.
                    log.exception("IMAP %s/%s: unexpected error", self.mailbox.name, self.folder)
                    exc = RetriableError(f"unexpected {exc.__class__.__name__}: {exc}")
                failures += 1
                fatal = isinstance(exc, FatalError)
                giving_up = self.once and (fatal or failures >= ONCE_ATTEMPTS)
                self._report(exc, dead_letter=fatal or giving_up)
                if giving_up:
                    return
                await self._sleep(self._backoff(failures, fatal=fatal))

    def _check_uidvalidity(self, uidvalidity: int) -> None:
        if self.uidvalidity and uidvalidity != self.uidvalidity:
            log.warning(
                "IMAP %s/%s: UIDVALIDITY changed %s -> %s; reading the folder again (dedupe drops repeats)",
                self.mailbox.name,
                self.folder,
                self.uidvalidity,
                uidvalidity,
            )
            self.last_uid = 0
            # UIDs now name other messages: a count of timed-out attempts no longer applies.
            self.batches = _batch_policy(self.mailbox)
        self.uidvalidity = uidvalidity

    async def _catch_up(self, reader: IMAPFolderReader) -> None:
        uids = await reader.new_uids(self.last_uid)
        batches = self.batches
        start = 0
        while start < len(uids):
            assert self._stop_event is not None
            if self._stop_event.is_set():
                return
            if batches.exhausted(uids[start]):
                await self._skip_unfetchable(reader, uids[start])
                start += 1
                continue
            chunk = uids[start : start + batches.size]
            try:
                fetched = await reader.fetch(chunk)
            except FetchTimedOut:
                batches.timed_out(chunk[0])
                log.warning(
                    "IMAP %s: fetching %d message(s) from UID %s timed out; next try fetches %d",
                    reader.where,
                    len(chunk),
                    chunk[0],
                    batches.size,
                )
                raise  # the connection still carries the abandoned response: reconnect
            batches.succeeded()
            for mail in fetched:
                ref = self._ref(mail.uid)
                item: EmailItem
                if mail.raw is None:
                    log.error(
                        "IMAP %s: server returned no body for UID %s; dead-lettered", reader.where, mail.uid
                    )
                    item = self._dead_letter(f"IMAP server returned no body for UID {mail.uid}", ref)
                else:
                    item = Envelope(
                        channel=CHANNEL,
                        kind=RFC822,
                        account=self.mailbox.name,
                        payload=mail.raw,
                        raw_ref=ref,
                        received_at=mail.internal_date or datetime.now(UTC),
                    )
                await self._emit(_Fetched(self.uidvalidity, mail.uid, item))
                self.last_uid = mail.uid
            start += len(chunk)

    async def _skip_unfetchable(self, reader: IMAPFolderReader, uid: int) -> None:
        # The message is still on the server: the dead letter names it (raw_ref) so a person
        # can fetch it by other means; the cursor moves past it so the folder flows again.
        size = await reader.size_of(uid)
        attempts = self.batches.attempts(uid)
        reason = (
            f"IMAP UID {uid} ({f'{size} bytes' if size is not None else 'size unknown'}) in "
            f"{self.mailbox.name}/{self.folder} timed out {attempts} times when fetched alone "
            f"(timeout_s={self.mailbox.timeout_s}); skipped, the message is still on the server"
        )
        log.error("IMAP %s: %s", reader.where, reason)
        await self._emit(_Fetched(self.uidvalidity, uid, self._dead_letter(reason, self._ref(uid))))
        self.last_uid = uid
        self.batches.skipped(uid)

    def _ref(self, uid: int) -> str:
        return f"imap:{self.mailbox.name}/{self.folder}/{self.uidvalidity}/{uid}"

    def _report(self, exc: ParleyError, *, dead_letter: bool) -> None:
        # A clear log line every time; a dead letter once per distinct reason for problems that
        # need a person (or that made a once-run give up), so a broken mailbox shows up in the
        # dead-letter list without flooding it.
        log.log(
            logging.ERROR if dead_letter else logging.WARNING,
            "IMAP %s/%s: %s",
            self.mailbox.name,
            self.folder,
            exc,
        )
        reason = str(exc)
        if dead_letter and reason not in self._reported:
            self._reported.add(reason)
            ref = f"imap:{self.mailbox.name}/{self.folder}"
            self._put(_Fetched(self.uidvalidity, None, self._dead_letter(reason, ref)))

    def _dead_letter(self, reason: str, ref: str) -> DeadLetter:
        return DeadLetter(stage=STAGE, reason=reason, raw="", channel=CHANNEL, kind=RFC822, raw_ref=ref)

    def _backoff(self, failures: int, *, fatal: bool) -> float:
        mb = self.mailbox
        # Fatal problems (wrong password) need a person: retry slowly, at the cap.
        return backoff_delay(
            failures,
            base_s=mb.reconnect_initial_s,
            max_s=mb.reconnect_max_s,
            floor_s=mb.reconnect_max_s if fatal else 0.0,
            jitter=True,
        )

    async def _sleep(self, seconds: float) -> None:
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _emit(self, fetched: _Fetched) -> None:
        # The queue is bounded so a slow flow holds the reader back instead of filling memory.
        while not self._stopped.is_set():
            try:
                self.out.put_nowait(fetched)
                return
            except queue.Full:
                await asyncio.sleep(0.05)

    def _put(self, item: object) -> None:
        while not self._stopped.is_set() or item is _END:
            try:
                self.out.put(item, timeout=0.1)
                return
            except queue.Full:
                if item is _END and self._stopped.is_set():
                    return


class _FolderPartition(StatefulSourcePartition[EmailItem, dict[str, int] | None]):
    def __init__(
        self,
        mailbox: MailboxSettings,
        folder: str,
        resume: dict[str, int] | None,
        *,
        once: bool,
        batch_size: int,
    ) -> None:
        self._uidvalidity = int((resume or {}).get("uidvalidity", 0))
        self._last_uid = int((resume or {}).get("last_uid", 0))
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(batch_size * 4, 64))
        self._batch_size = batch_size
        self._ended = False
        self._empty = False
        self._worker = _FolderWorker(mailbox, folder, (self._uidvalidity, self._last_uid), once, self._queue)
        self._worker.start()

    def next_batch(self) -> list[EmailItem]:
        batch: list[EmailItem] = []
        while len(batch) < self._batch_size and not self._ended:
            try:
                got = self._queue.get_nowait()
            except queue.Empty:
                break
            if got is _END:
                self._ended = True
                break
            if got.uid is not None:
                self._uidvalidity, self._last_uid = got.uidvalidity, got.uid
            batch.append(got.item)
        if not batch and self._ended:
            raise StopIteration
        self._empty = not batch
        return batch

    def next_awake(self) -> datetime | None:
        # Nothing queued: look again shortly instead of spinning at bytewax's 1 ms default.
        return datetime.now(UTC) + timedelta(milliseconds=100) if self._empty else None

    def snapshot(self) -> dict[str, int] | None:
        if not self._uidvalidity:
            return None
        return {"uidvalidity": self._uidvalidity, "last_uid": self._last_uid}

    def close(self) -> None:
        self._worker.stop()
        self._worker.join(timeout=5)


class IMAPSource(FixedPartitionedSource[EmailItem, dict[str, int] | None]):
    """Reads every folder of every mailbox; partition key ``<mailbox name>/<folder>``."""

    def __init__(self, mailboxes: list[MailboxSettings], *, once: bool = False, batch_size: int = 64) -> None:
        self._parts: dict[str, tuple[MailboxSettings, str]] = {}
        for mailbox in mailboxes:
            for folder in mailbox.folders:
                key = f"{mailbox.name}/{folder}"
                if key in self._parts:
                    raise FatalError(f"mailbox {mailbox.name!r} folder {folder!r} is configured twice")
                self._parts[key] = (mailbox, folder)
        self._once = once
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        return list(self._parts)

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict[str, int] | None
    ) -> _FolderPartition:
        mailbox, folder = self._parts[for_part]
        return _FolderPartition(mailbox, folder, resume_state, once=self._once, batch_size=self._batch_size)


def sources(settings: Settings) -> list[NamedSource]:
    """(step id, source) for the ingest flow: one IMAP source over every configured mailbox
    (none when no mailbox is configured)."""
    mailboxes = email_settings(settings).accounts
    if not mailboxes:
        return []
    return [("email_imap", IMAPSource(list(mailboxes)))]
