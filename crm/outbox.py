"""The outbox: one row per reply an agent wrote, and what became of it.

The API only writes a row (:meth:`OutboxStore.enqueue`); a dispatcher (``outbound``) takes
rows and sends them. A reply's ``state`` moves

    queued -> sending -> sent -> delivered
                      -> queued (a passing failure: backoff, Retry-After)
                      -> failed (fatal, or the retry budget spent; ``reason`` says what to do)
                      -> unknown (the dispatcher died mid-send and the platform cannot say)
    unknown | failed -> queued (a person retries) ; unknown -> failed (a person drops it)

What the store promises:

* **One reply per Idempotency-Key.** ``(author_id, idempotency_key)`` is unique: the same key
  from the same agent gives back the reply it made first, whatever runs at once; the same key
  with a different request is refused (:class:`crm.errors.Conflict`).
* **One sender per reply.** :meth:`claim` takes a due ``queued`` row and commits it as
  ``sending`` with the claimer's run id and a lease before anything is sent (PostgreSQL:
  ``FOR UPDATE SKIP LOCKED``, so dispatchers never wait on each other; SQLite: one writer at a
  time). Every later transition names the run that claimed the row and changes nothing when
  another run has taken it since.
* **Nothing sent twice unseen.** A row left ``sending`` by a run that is gone is *in doubt*
  (:meth:`in_doubt`). If it never reached its point of no return (``handed_over_at`` is
  NULL: :meth:`mark_handed_over` commits before SMTP DATA), the platform cannot have it and it
  is queued again; otherwise it is never simply sent again: the dispatcher asks the platform
  (:meth:`take_in_doubt`, then ``record_*``), and records ``unknown`` when it cannot tell.
* Every transition appends its event (``reply.queued/sent/delivered/failed/unknown``) in the
  same transaction, when the store has an event log.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from crm.engine import write
from crm.errors import Conflict, NotFound
from crm.schema import outbox
from hub.models import Attachment, Identity, utcnow

__all__ = [
    "FINAL_STATES",
    "STATES",
    "EventSink",
    "NewReply",
    "OutboxStore",
    "ReplyState",
    "ReplyView",
    "request_digest",
]

ReplyState = Literal["queued", "sending", "sent", "delivered", "failed", "unknown"]
STATES: tuple[ReplyState, ...] = ("queued", "sending", "sent", "delivered", "failed", "unknown")
#: states a dispatcher never leaves by itself (a person may retry ``failed`` and ``unknown``)
FINAL_STATES = frozenset({"sent", "delivered", "failed", "unknown"})


class EventSink(Protocol):
    """The part of the event log (``crm.events``) the outbox appends to."""

    def append(
        self,
        type: str,
        *,
        conversation_id: str | None = None,
        contact_id: str | None = None,
        actor_id: str | None = None,
        data: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> int: ...


class ReplyView(BaseModel):
    """A reply as stored, with its delivery state."""

    model_config = ConfigDict(frozen=True)

    id: str
    conversation_id: str
    channel: str
    account: str
    in_reply_to: str | None
    author_id: str
    private: bool | None
    subject: str | None
    text: str
    html: str | None
    recipients: list[Identity]
    attachments: list[Attachment]
    canned_response_id: str | None
    state: ReplyState
    attempts: int
    next_attempt_at: datetime
    platform_id: str | None
    message_id: str | None
    reason: str | None
    recorded: bool
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    claimed_by: str | None = None
    handed_over_at: datetime | None = None


@dataclass(frozen=True)
class NewReply:
    """What the API writes: a reply to ``conversation_id`` by ``author_id``."""

    conversation_id: str
    channel: str
    account: str
    author_id: str
    text: str
    in_reply_to: str | None = None
    private: bool | None = None
    subject: str | None = None
    html: str | None = None
    recipients: Sequence[Identity] = ()
    attachments: Sequence[Attachment] = ()
    canned_response_id: str | None = None
    idempotency_key: str | None = None
    #: :func:`request_digest` of the request the key came with
    request_digest: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def request_digest(document: Any) -> str:
    """SHA-256 of ``document`` as canonical JSON: the same request gives the same digest."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _view(row: Any) -> ReplyView:
    return ReplyView.model_validate(dict(row))


class OutboxStore:
    """The outbox table's reads and transitions (see the module doc for the contract)."""

    def __init__(self, engine: Engine, writer: Engine, events: EventSink | None = None) -> None:
        self._engine = engine
        self._writer = writer
        self.events = events
        # claims read committed on PostgreSQL: SKIP LOCKED under SERIALIZABLE would turn every
        # race into a serialization failure instead of skipping the row another run took
        self._claimer = (
            engine.execution_options(isolation_level="READ COMMITTED", parley_write=True)
            if engine.dialect.name == "postgresql"
            else writer
        )

    # --- events ---------------------------------------------------------------------------

    def _event(self, conn: Connection, type_: str, row: ReplyView | Any, actor_id: str | None = None) -> None:
        if self.events is None:
            return
        data = {
            "reply_id": row.id,
            "message_id": row.message_id,
            "platform_id": row.platform_id,
            "reason": row.reason,
        }
        self.events.append(
            type_, conversation_id=row.conversation_id, actor_id=actor_id, data=data, conn=conn
        )

    def _row(self, conn: Connection, reply_id: str) -> ReplyView | None:
        row = conn.execute(select(outbox).where(outbox.c.id == reply_id)).mappings().first()
        return _view(row) if row is not None else None

    # --- writing a reply (the API) ----------------------------------------------------------

    def enqueue(self, new: NewReply) -> tuple[ReplyView, bool]:
        """Store ``new`` as ``queued``; returns it and whether it is new. With an idempotency
        key already used by this author for the same request, the stored reply and ``False``;
        for another request, ``Conflict``."""
        now = utcnow()

        def work(conn: Connection) -> tuple[ReplyView, bool]:
            if new.idempotency_key is not None:
                found = self._by_key(conn, new.author_id, new.idempotency_key)
                if found is not None:
                    return self._replayed(conn, found, new), False
            reply_id = f"rpl_{uuid.uuid4().hex}"
            values: dict[str, Any] = {
                "id": reply_id,
                "conversation_id": new.conversation_id,
                "channel": new.channel,
                "account": new.account,
                "in_reply_to": new.in_reply_to,
                "author_id": new.author_id,
                "idempotency_key": new.idempotency_key,
                "request_digest": new.request_digest,
                "private": new.private,
                "subject": new.subject,
                "text": new.text,
                "html": new.html,
                "recipients": [i.model_dump(mode="json") for i in new.recipients],
                "attachments": [a.model_dump(mode="json") for a in new.attachments],
                "canned_response_id": new.canned_response_id,
                "state": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "recorded": False,
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(insert(outbox).values(values))
            row = self._row(conn, reply_id)
            assert row is not None
            self._event(conn, "reply.queued", row, new.author_id)
            return row, True

        # concurrent first uses of one key: the loser's insert violates the unique index, and
        # write() runs it again, when it finds the winner's row
        return write(self._writer, work, attempts=12)

    def _by_key(self, conn: Connection, author_id: str, key: str) -> Any:
        query = select(outbox).where(outbox.c.author_id == author_id, outbox.c.idempotency_key == key)
        return conn.execute(query).mappings().first()

    @staticmethod
    def _replayed(conn: Connection, found: Any, new: NewReply) -> ReplyView:
        if found["request_digest"] != new.request_digest:
            raise Conflict(
                "this Idempotency-Key was used for a different request; use a new key for a new reply"
            )
        return _view(found)

    # --- reading ----------------------------------------------------------------------------

    def get(self, reply_id: str) -> ReplyView | None:
        with self._engine.connect() as conn:
            return self._row(conn, reply_id)

    def for_conversation(self, conversation_id: str) -> list[ReplyView]:
        """The conversation's replies, oldest first."""
        query = (
            select(outbox)
            .where(outbox.c.conversation_id == conversation_id)
            .order_by(outbox.c.created_at, outbox.c.id)
        )
        with self._engine.connect() as conn:
            return [_view(row) for row in conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """How many replies are in each state (every state named, 0 included)."""
        query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
        with self._engine.connect() as conn:
            found = {state: count for state, count in conn.execute(query)}
        return {state: int(found.get(state, 0)) for state in STATES}

    def next_due(self) -> datetime | None:
        """When the earliest queued reply falls due (None: nothing queued)."""
        query = select(func.min(outbox.c.next_attempt_at)).where(outbox.c.state == "queued")
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    # --- the dispatcher's transitions -------------------------------------------------------

    def claim(self, run_id: str, lease: timedelta, now: datetime | None = None) -> ReplyView | None:
        """Take the oldest due ``queued`` reply for ``run_id``: committed as ``sending`` (attempts
        + 1, leased until now + ``lease``) before this returns; ``None`` when none is due."""
        moment = now or utcnow()
        due = (outbox.c.state == "queued", outbox.c.next_attempt_at <= moment)
        # an idle dispatcher polls: a plain read first, so polling takes no write lock
        with self._engine.connect() as conn:
            if conn.execute(select(outbox.c.id).where(*due).limit(1)).first() is None:
                return None

        def work(conn: Connection) -> ReplyView | None:
            query = (
                select(outbox.c.id)
                .where(*due)
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            reply_id = conn.execute(query).scalar_one_or_none()
            if reply_id is None:
                return None
            conn.execute(
                update(outbox)
                .where(outbox.c.id == reply_id)
                .values(
                    state="sending",
                    attempts=outbox.c.attempts + 1,
                    claimed_by=run_id,
                    lease_until=moment + lease,
                    handed_over_at=None,
                    updated_at=moment,
                )
            )
            return self._row(conn, reply_id)

        return write(self._claimer, work)

    def in_doubt(self, run_id: str, *, every_other_run: bool, now: datetime | None = None) -> list[str]:
        """Ids of replies left ``sending`` by runs that are gone: leases that ran out, and with
        ``every_other_run`` (a dispatcher that knows it is the only one) any run but ``run_id``."""
        moment = now or utcnow()
        gone: Any = outbox.c.lease_until < moment
        if every_other_run:
            gone = or_(gone, outbox.c.claimed_by.is_(None), outbox.c.claimed_by != run_id)
        query = select(outbox.c.id).where(outbox.c.state == "sending", gone).order_by(outbox.c.id)
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def take_in_doubt(
        self, reply_id: str, run_id: str, lease: timedelta, *, every_other_run: bool
    ) -> ReplyView | None:
        """Claim the in-doubt reply ``reply_id`` for ``run_id`` to settle it (None: not in doubt
        any more, or another run took it first)."""
        moment = utcnow()
        gone: Any = outbox.c.lease_until < moment
        if every_other_run:
            gone = or_(gone, outbox.c.claimed_by.is_(None), outbox.c.claimed_by != run_id)

        def work(conn: Connection) -> ReplyView | None:
            taken = conn.execute(
                update(outbox)
                .where(outbox.c.id == reply_id, outbox.c.state == "sending", gone)
                .values(claimed_by=run_id, lease_until=moment + lease, updated_at=moment)
            ).rowcount
            return self._row(conn, reply_id) if taken else None

        return write(self._claimer, work)

    def _transition(
        self, reply_id: str, run_id: str, values: dict[str, Any], *events: str
    ) -> ReplyView | None:
        """Apply ``values`` to ``reply_id`` if ``run_id`` still holds it ``sending``; append
        ``events``. None when it does not (the run lost its claim: nothing changes)."""
        values = {**values, "updated_at": utcnow()}

        def work(conn: Connection) -> ReplyView | None:
            changed = conn.execute(
                update(outbox)
                .where(outbox.c.id == reply_id, outbox.c.state == "sending", outbox.c.claimed_by == run_id)
                .values(values)
            ).rowcount
            if not changed:
                return None
            row = self._row(conn, reply_id)
            assert row is not None
            for event in events:
                self._event(conn, event, row)
            return row

        return write(self._writer, work)

    def mark_handed_over(self, reply_id: str, run_id: str) -> bool:
        """Record that ``run_id`` is about to hand the reply over (its point of no return);
        False when it no longer holds the reply (it must not send it)."""
        statement = (
            update(outbox)
            .where(outbox.c.id == reply_id, outbox.c.state == "sending", outbox.c.claimed_by == run_id)
            .values(handed_over_at=utcnow())
        )
        return bool(write(self._writer, lambda conn: conn.execute(statement).rowcount))

    def record_sent(
        self,
        reply_id: str,
        run_id: str,
        *,
        platform_id: str | None,
        message_id: str | None,
        sent_at: datetime,
        delivered: bool = False,
        reason: str | None = None,
    ) -> ReplyView | None:
        """The platform took the reply (``delivered``: and it is published, as on X)."""
        values: dict[str, Any] = {
            "state": "delivered" if delivered else "sent",
            "platform_id": platform_id,
            "message_id": message_id,
            "sent_at": sent_at,
            "reason": reason,
            "lease_until": None,
        }
        if delivered:
            values["delivered_at"] = sent_at
        events = ("reply.sent", "reply.delivered") if delivered else ("reply.sent",)
        return self._transition(reply_id, run_id, values, *events)

    def record_retry(self, reply_id: str, run_id: str, *, reason: str, at: datetime) -> ReplyView | None:
        """A passing failure: back to ``queued``, not taken before ``at``."""
        values = {
            "state": "queued",
            "reason": reason,
            "next_attempt_at": at,
            "lease_until": None,
            "handed_over_at": None,
        }
        return self._transition(reply_id, run_id, values)

    def record_failed(self, reply_id: str, run_id: str, *, reason: str) -> ReplyView | None:
        """It can never go out as it is: ``failed`` with ``reason`` (what to do)."""
        values = {"state": "failed", "reason": reason, "lease_until": None}
        return self._transition(reply_id, run_id, values, "reply.failed")

    def record_unknown(self, reply_id: str, run_id: str, *, reason: str) -> ReplyView | None:
        """In doubt and the platform cannot say: ``unknown``, for a person to retry or drop."""
        values = {"state": "unknown", "reason": reason, "lease_until": None}
        return self._transition(reply_id, run_id, values, "reply.unknown")

    def mark_recorded(
        self, reply_id: str, *, conversation_id: str | None = None, event: dict[str, Any] | None = None
    ) -> None:
        """The outbound message is in the knowledge base; ``event``: the ``message.created``
        data to append with it (in ``conversation_id``, as it is now)."""
        statement = update(outbox).where(outbox.c.id == reply_id).values(recorded=True)

        def work(conn: Connection) -> None:
            conn.execute(statement)
            if event is not None and self.events is not None:
                actor = event.get("sent_by")
                self.events.append(
                    "message.created", conversation_id=conversation_id, actor_id=actor, data=event, conn=conn
                )

        write(self._writer, work)

    def unrecorded(self, limit: int = 100) -> list[ReplyView]:
        """Sent replies whose outbound message is not in the knowledge base yet."""
        query = (
            select(outbox)
            .where(outbox.c.state.in_(("sent", "delivered")), outbox.c.recorded.is_(False))
            .order_by(outbox.c.sent_at, outbox.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_view(row) for row in conn.execute(query).mappings()]

    # --- a person's decisions ----------------------------------------------------------------

    def retry(self, reply_id: str, actor_id: str) -> ReplyView:
        """Queue a ``failed`` or ``unknown`` reply again (a person decided; for ``unknown`` they
        accept that the customer may get it twice)."""
        return self._decide(reply_id, actor_id, ("failed", "unknown"), "queued")

    def drop(self, reply_id: str, actor_id: str) -> ReplyView:
        """Give up an ``unknown`` reply: ``failed``, never sent again."""
        return self._decide(reply_id, actor_id, ("unknown",), "failed")

    def _decide(self, reply_id: str, actor_id: str, allowed: tuple[str, ...], to: str) -> ReplyView:
        now = utcnow()

        def work(conn: Connection) -> ReplyView:
            row = self._row(conn, reply_id)
            if row is None:
                raise NotFound(f"no reply {reply_id}")
            if row.state not in allowed:
                raise Conflict(f"reply {reply_id} is {row.state}; only {' or '.join(allowed)} replies can be")
            values: dict[str, Any] = {"state": to, "updated_at": now, "claimed_by": None, "lease_until": None}
            if to == "queued":
                values.update(
                    next_attempt_at=now, attempts=0, reason=f"retried by a person (was {row.state})"
                )
            else:
                values["reason"] = f"dropped by a person (was {row.state}): {row.reason or ''}".strip()
            conn.execute(
                update(outbox)
                .where(and_(outbox.c.id == reply_id, outbox.c.state == row.state))
                .values(values)
            )
            after = self._row(conn, reply_id)
            assert after is not None
            self._event(conn, "reply.queued" if to == "queued" else "reply.failed", after, actor_id)
            return after

        return write(self._writer, work)
