"""The reply dispatcher: takes queued replies from the outbox and sends them through their channel.

``parley dispatch`` (and ``parley run``) run :class:`Dispatcher`. Per reply:

1. :meth:`crm.outbox.OutboxStore.claim` commits it ``sending`` (row locks: ``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL, so several dispatchers share the work; SQLite has one dispatcher,
   held by a lock file, :func:`single_dispatcher_lock`);
2. ``CHANNELS[channel].replier(settings, account).send(reply)``;
3. the outcome is recorded: ``sent`` (``delivered`` where the platform's acceptance is
   publication, ``Channel.sent_is_delivered``) with the platform's id; a passing failure
   (``RetriableError``) queues it again after the hub's backoff or the platform's Retry-After,
   until ``outbox.max_attempts`` sends, then ``failed``; a reply that can never go out
   (``SkippableError``, ``InvalidInput``) or a configuration to fix (``FatalError``) is
   ``failed`` with the reason, which says what to do;
4. the outbound message joins the conversation in the knowledge base (direction out, the
   brand's identity as author, ``metadata.sent_by`` the agent), so the customer's answer threads
   back; then ``message.created`` is appended.

**Exactly once.** A dispatcher that dies between 2 and 3 leaves the reply ``sending``: it is
in doubt. A new dispatcher settles such replies before taking new ones (and, on PostgreSQL,
any whose claim's lease ran out): where the replier can ask the platform (``settle``: X looks
for the tweet or DM), the answer is recorded, or the reply is queued again when the platform
does not have it; where it cannot (SMTP keeps no record a client can query), the reply becomes
``unknown``, for a person to retry or drop through the API. Nothing in doubt is ever simply
sent again.
"""

from __future__ import annotations

import asyncio
import fcntl
import inspect
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from channels import CHANNELS
from channels.base import DeliveryInDoubt, Replier
from crm import CRMStore
from crm.outbox import ReplyView
from hub.backoff import backoff_delay
from hub.errors import FatalError, InvalidInput, ParleyError, RetriableError, SkippableError
from hub.models import Delivery, Message, Reply, utcnow
from hub.settings import Settings
from kb.base import KnowledgeBase
from kb.conversations import ConversationKeeper

__all__ = ["DispatchReport", "Dispatcher", "single_dispatcher_lock"]

log = logging.getLogger("parley.dispatch")

T = TypeVar("T")

#: tries of each knowledge-base write of an outbound message before it is left for later
KB_ATTEMPTS = 5


@dataclass
class DispatchReport:
    """What one dispatcher run did, by outcome."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    settled: int = 0
    requeued: int = 0
    recorded: int = 0
    reasons: list[str] = field(default_factory=list)


class ClaimLost(ParleyError):
    """The dispatcher no longer holds the reply it was about to hand over: it does not send it."""


def single_dispatcher_lock(settings: Settings) -> IO[str] | None:
    """On a SQLite store, the lock that makes this the one dispatcher (held while the returned
    file is open); ``FatalError`` when another holds it. ``None`` on PostgreSQL, where any
    number run side by side."""
    if settings.database_url is not None and not settings.database_url.startswith("sqlite"):
        return None
    settings.ensure_data_dir()
    path = Path(settings.data_dir) / "dispatch.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FatalError(
            f"another dispatcher is running on this SQLite store ({path} is locked): one "
            "dispatcher per SQLite store; stop the other one (PostgreSQL stores run several)"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class Dispatcher:
    """Sends the outbox's replies with ``settings.outbox.senders`` concurrent senders."""

    def __init__(
        self,
        settings: Settings,
        crm: CRMStore,
        kb: KnowledgeBase,
        *,
        senders: int | None = None,
        only_dispatcher: bool | None = None,
        on_outcome: Callable[[str, ReplyView], None] | None = None,
    ) -> None:
        self.settings = settings
        self.crm = crm
        self.outbox = crm.outbox
        self.keeper = ConversationKeeper(kb, attempts=KB_ATTEMPTS)
        self.kb = kb
        self.senders = senders or settings.outbox.senders
        #: a dispatcher alone on its store settles every reply another run left ``sending``
        self.only = crm.backend == "sqlite" if only_dispatcher is None else only_dispatcher
        self.run_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.outbox.lease_s)
        self.report = DispatchReport()
        self._repliers: dict[tuple[str, str], Replier] = {}
        self._on_outcome = on_outcome
        self._store_lock: AbstractContextManager[Any] = (
            threading.Lock() if crm.backend == "sqlite" else nullcontext()
        )

    async def _io(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work`` (store calls) in a worker thread; one at a time on SQLite, whose busy
        handler sleeps in growing steps: waiting senders would sleep past the moment the lock
        frees. The senders still overlap their network time, which is most of a send."""

        def locked() -> T:
            with self._store_lock:
                return work(*args, **kwargs)

        return await asyncio.to_thread(locked)

    # --- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> DispatchReport:
        """Settle replies in doubt, then send until ``stop`` is set (or, ``until_idle``, until
        nothing is queued or in doubt). A sender finishes the reply in its hands before it stops."""
        stop = stop or asyncio.Event()
        await self.settle_in_doubt()
        await self._io(self.record_pending)
        outcomes = await asyncio.gather(
            *(self._stopping_others(stop, until_idle) for _ in range(self.senders)), return_exceptions=True
        )
        # every sender has finished (and its store call returned) before an error leaves here:
        # the caller closes the stores next, and a store closed under a running thread crashes
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return self.report

    async def _stopping_others(self, stop: asyncio.Event, until_idle: bool) -> None:
        try:
            await self._sender(stop, until_idle)
        except BaseException:
            stop.set()  # the other senders finish the reply in their hands and stop
            raise

    async def _sender(self, stop: asyncio.Event, until_idle: bool) -> None:
        poll = self.settings.outbox.poll_s
        while not stop.is_set():
            row = await self._io(self.outbox.claim, self.run_id, self.lease)
            if row is not None:
                await self.dispatch(row)
                continue
            if until_idle and await self._io(self._idle):
                return
            if not self.only:  # other dispatchers' leases may have run out
                doubtful: list[str] = await self._io(self.outbox.in_doubt, self.run_id, every_other_run=False)
                if doubtful:
                    await self.settle_in_doubt()
                    continue
            with suppress(TimeoutError):  # the idle sender's poll interval passed
                await asyncio.wait_for(stop.wait(), timeout=poll)

    def _idle(self) -> bool:
        counts = self.outbox.counts()
        return counts["queued"] == 0 and counts["sending"] == 0

    # --- one reply ----------------------------------------------------------------------------

    def _replier(self, channel: str, account: str) -> Replier:
        key = (channel, account)
        if key not in self._repliers:
            descriptor = CHANNELS.get(channel)
            if descriptor is None or descriptor.replier is None:
                raise SkippableError(f"channel {channel!r} cannot send replies (it is read-only here)")
            self._repliers[key] = descriptor.replier(self.settings, account)
        return self._repliers[key]

    def _reply(self, row: ReplyView) -> Reply:
        parent = self.kb.get_message(row.in_reply_to) if row.in_reply_to else None
        if row.in_reply_to and parent is None:
            raise SkippableError(f"the answered message {row.in_reply_to} is no longer in the knowledge base")
        return Reply(
            id=row.id,
            conversation_id=row.conversation_id,
            channel=row.channel,
            account=row.account,
            in_reply_to=parent,
            to=row.recipients,
            subject=row.subject,
            text=row.text,
            html=row.html,
            author=row.author_id,
            private=row.private,
            attachments=row.attachments,
        )

    async def dispatch(self, row: ReplyView) -> None:
        """Send one claimed reply and record what became of it."""
        handed = False

        async def handing_over() -> None:
            nonlocal handed
            if not await self._io(self.outbox.mark_handed_over, row.id, self.run_id):
                raise ClaimLost(f"reply {row.id} was taken by another dispatcher")
            handed = True

        try:
            reply = await self._io(self._reply, row)
            replier = await self._io(self._replier, row.channel, row.account)
            if "handing_over" in inspect.signature(replier.send).parameters:
                delivery = await replier.send(reply, handing_over=handing_over)  # type: ignore[call-arg]
            else:  # no point of no return known: the whole send is past it
                await handing_over()
                delivery = await replier.send(reply)
        except ClaimLost as exc:
            log.error("%s; leaving it to that one", exc)
            return
        except DeliveryInDoubt as exc:
            await self._io(self._settle, row, str(exc), True)
            return
        except RetriableError as exc:
            await self._io(self._retry_or_fail, row, exc)
            return
        except (SkippableError, InvalidInput) as exc:
            await self._finish(row, "failed", f"cannot be sent: {exc}")
            return
        except FatalError as exc:
            await self._finish(row, "failed", f"{exc} (then retry the reply)")
            return
        except Exception as exc:  # a bug, or a library error nobody translated
            log.exception("reply %s: unexpected error while sending", row.id)
            if not handed:  # the platform cannot have it
                await self._finish(row, "failed", f"unexpected error before sending ({exc!r}); retry it")
                return
            await self._finish(
                row, "unknown", f"unexpected error while sending ({exc!r}); it may have gone out"
            )
            return
        # recorded first, on its own: the moment of doubt ends as soon as it can
        done = await self._io(self._sent, row, delivery, write_message=False)
        if done is not None and delivery.message is not None:
            await self._io(self._write_message, done, delivery.message)

    def _retry_or_fail(self, row: ReplyView, exc: RetriableError) -> None:
        config = self.settings.outbox
        if row.attempts >= config.max_attempts:
            self._record(row, "failed", f"gave up after {row.attempts} attempts: {exc}")
            return
        if exc.retry_after is not None:
            wait = min(max(exc.retry_after, 0.0), config.max_retry_after_s)
        else:
            wait = backoff_delay(
                row.attempts, base_s=config.retry_base_s, max_s=config.retry_max_s, jitter=True
            )
        at = utcnow() + timedelta(seconds=wait)
        log.warning("reply %s: %s; retry %d in %.1fs", row.id, exc, row.attempts, wait)
        if self.outbox.record_retry(row.id, self.run_id, reason=str(exc), at=at) is not None:
            self.report.retried += 1

    async def _finish(self, row: ReplyView, state: str, reason: str) -> None:
        await self._io(self._record, row, state, reason)

    def _record(self, row: ReplyView, state: str, reason: str) -> None:
        record = self.outbox.record_failed if state == "failed" else self.outbox.record_unknown
        done = record(row.id, self.run_id, reason=reason)
        if done is not None:
            setattr(self.report, state, getattr(self.report, state) + 1)
            self.report.reasons.append(f"{row.id}: {reason}")
            log.warning("reply %s %s: %s", row.id, state, reason)
            self._outcome(state, done)

    def _sent(self, row: ReplyView, delivery: Delivery, *, write_message: bool = True) -> ReplyView | None:
        """Record ``delivery``; the row as recorded (None: another run holds it). The outbound
        message is written too unless the caller writes it itself (``write_message``)."""
        descriptor = CHANNELS.get(row.channel)
        message = delivery.message
        done = self.outbox.record_sent(
            row.id,
            self.run_id,
            platform_id=delivery.native_id,
            message_id=message.id if message is not None else None,
            sent_at=delivery.sent_at or utcnow(),
            delivered=bool(descriptor and descriptor.sent_is_delivered),
            reason=delivery.error,
        )
        if done is None:
            log.error("reply %s was sent but another dispatcher holds it now", row.id)
            return None
        self.report.sent += 1
        self._outcome(done.state, done)
        if message is not None and write_message:
            self._write_message(done, message)
        return done

    def _outcome(self, state: str, row: ReplyView) -> None:
        if self._on_outcome is not None:
            self._on_outcome(state, row)

    # --- the sent reply in the conversation -------------------------------------------------

    def _write_message(self, row: ReplyView, message: Message) -> None:
        """Put the outbound message in its conversation (as it is now, should it have folded)."""
        conversation = self.crm.threads.resolve([row.conversation_id])[row.conversation_id]
        metadata = {**message.metadata, "reply_id": row.id, "sent_by": row.author_id, "delivery": row.state}
        outbound = message.model_copy(update={"conversation_id": conversation, "metadata": metadata})
        try:
            self.keeper.apply([outbound])
        except RetriableError as exc:  # recorded later (record_pending): the reply itself is sent
            log.warning(
                "reply %s: its message could not be written to the knowledge base yet: %s", row.id, exc
            )
            return
        self.outbox.mark_recorded(
            row.id,
            conversation_id=conversation,
            event={
                "message_id": outbound.id,
                "direction": "out",
                "channel": outbound.channel,
                "account": outbound.account,
                "sent_at": outbound.created_at.isoformat(),
                "sent_by": row.author_id,
            },
        )
        self.report.recorded += 1

    def record_pending(self) -> None:
        """Write the messages of sent replies a previous run did not get to write."""
        for row in self.outbox.unrecorded():
            message = self._rebuild_message(row)
            if message is not None:
                self._write_message(row, message)

    def _rebuild_message(self, row: ReplyView) -> Message | None:
        """The outbound message of a reply sent before its message was written: rebuilt by the
        replier where it derives it from the reply alone (mail), else from what the platform
        has (``settle``)."""
        try:
            replier = self._replier(row.channel, row.account)
            rebuild = getattr(replier, "rebuild", None)
            if callable(rebuild):
                message: Message = rebuild(self._reply(row))
                return message.model_copy(update={"created_at": row.sent_at or message.created_at})
            settle = getattr(replier, "settle", None)
            delivery = settle(self._reply(row)) if callable(settle) else None
        except (RetriableError, SkippableError, FatalError) as exc:
            log.warning("reply %s: cannot rebuild its message now: %s", row.id, exc)
            return None
        return delivery.message if delivery is not None else None

    # --- replies in doubt ----------------------------------------------------------------------

    async def settle_in_doubt(self) -> None:
        """Settle every reply another run left ``sending`` (see the module doc)."""
        for reply_id in await self._io(self.outbox.in_doubt, self.run_id, every_other_run=self.only):
            row = await self._io(
                self.outbox.take_in_doubt, reply_id, self.run_id, self.lease, every_other_run=self.only
            )
            if row is not None:
                await self._io(
                    self._settle,
                    row,
                    "the dispatcher stopped while sending it",
                    row.handed_over_at is not None,
                )

    def _settle(self, row: ReplyView, why: str, handed_over: bool) -> None:
        """Settle a reply in doubt (``why``); ``handed_over``: it reached its point of no return."""
        if not handed_over:
            # it never reached its point of no return: the platform cannot have it
            if self.outbox.record_retry(
                row.id, self.run_id, reason=f"{why}, before handing it over", at=utcnow()
            ):
                self.report.requeued += 1
            return
        try:
            replier = self._replier(row.channel, row.account)
            settle = getattr(replier, "settle", None)
            if not callable(settle):
                self._record(
                    row,
                    "unknown",
                    f"{why}, after handing it over, and {row.channel} keeps no record Parley can "
                    "check; look in the mailbox's sent mail or ask the customer, then retry it (it "
                    "may arrive twice) or drop it",
                )
                return
            delivery = settle(self._reply(row))
        except RetriableError as exc:
            log.warning("reply %s in doubt: cannot ask %s now (%s); settled later", row.id, row.channel, exc)
            return
        except (SkippableError, FatalError, InvalidInput) as exc:
            self._record(row, "unknown", f"in doubt and it cannot be checked: {exc}; retry or drop it")
            return
        self.report.settled += 1
        if delivery is not None:
            self._sent(row, delivery)
            return
        # the platform does not have it: it never went out, so sending it is safe
        if self.outbox.record_retry(
            row.id, self.run_id, reason="in doubt; the platform does not have it", at=utcnow()
        ):
            self.report.requeued += 1
