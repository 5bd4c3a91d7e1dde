"""``CRMStore``: the CRM store's public face, over SQLite (default) or PostgreSQL.

Every method opens its own connection and transaction, so one store is safe to share between
threads (FastAPI's threadpool, a Bytewax worker). Writes are retried on conflicts with
concurrent writers (other threads or processes) and raise ``hub.errors.RetriableError`` when
they keep conflicting; ``crm.errors`` says what a request got wrong (not found, conflict,
invalid). The schema is created or migrated when the store is opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from crm.agents import AgentStore
from crm.attributes import attributes_problem, text_problem
from crm.audit import AuditLog
from crm.canned import CannedStore
from crm.credential_cache import CredentialCache
from crm.credentials import CachedToken, CredentialStore
from crm.deadletters import DeadLetterTable
from crm.engine import make_engine, migrate, write, write_engine
from crm.errors import InvalidRequest, NotFound
from crm.events import EventLog
from crm.inbox import InboxEntry, InboxTable
from crm.merges import merge_contacts, split_contact, unmerge_contact
from crm.monitors import MonitorStore
from crm.normalise import Resolver
from crm.notes import NoteStore
from crm.outbound_webhooks import OutboundWebhookStore
from crm.outbox import OutboxStore
from crm.resolve import upsert_authors
from crm.rollups import chunks
from crm.routing import RoutingStore
from crm.rules import RuleStore
from crm.schema import contacts, identities, merge_events
from crm.segments import SegmentStore
from crm.sla import SlaStore
from crm.teams import TeamStore
from crm.threads import ThreadStore
from crm.views import ContactView, MergeEventView, contact_view, event_view
from hub.models import DeadLetter, Envelope, Message, utcnow
from hub.settings import CRMSettings, Settings

__all__ = ["CRMStore", "open_crm"]


def open_crm(settings: Settings) -> CRMStore:
    """Open (creating or migrating on first use) the CRM store ``settings.crm_url`` names."""
    if settings.database_url is None:
        settings.ensure_data_dir()
    engine = make_engine(settings.crm_url)
    migrate(engine)
    # the brand's own addresses and numbers (its mailboxes among them) must never merge people
    return CRMStore(
        engine,
        settings.crm,
        own_addresses=settings.own_addresses(),
        sla_late_after=timedelta(minutes=settings.sla.late_after_minutes),
        credential_cache_seconds=settings.auth.credential_cache_seconds,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CRMStore:
    """Contacts and identities, merges, segments, dead letters and thread membership in one
    relational database; the team's tables through ``agents``, ``teams``, ``credentials`` and
    ``audit``; the event log through ``events``."""

    def __init__(
        self,
        engine: Engine,
        settings: CRMSettings | None = None,
        *,
        own_addresses: Sequence[str] = (),
        sla_late_after: timedelta = timedelta(hours=1),
        credential_cache_seconds: float = 0.0,
    ) -> None:
        self.engine = engine
        self._writer = write_engine(engine)
        self.settings = settings or CRMSettings()
        self.resolver = Resolver(self.settings, own_addresses)
        self.segments = SegmentStore(engine, self._writer, self.resolver)
        self._dead_letters = DeadLetterTable(engine, self._writer)
        self._inbox = InboxTable(engine, self._writer)
        #: tokens that authenticated lately (``crm.credential_cache``): every change to an
        #: agent or a token through these stores clears it
        cache: CredentialCache[CachedToken] = CredentialCache(credential_cache_seconds)
        self.agents = AgentStore(engine, self._writer, on_change=cache.clear)
        self.teams = TeamStore(engine, self._writer)
        self.credentials = CredentialStore(engine, self._writer, cache)
        self.audit = AuditLog(engine, self._writer)
        #: what changed, in commit order, for followers (``crm.events``, docs/events.md)
        self.events = EventLog(engine, self._writer)
        #: routing rules and each conversation's routing state (``crm.rules``, ``crm.routing``)
        self.rules = RuleStore(engine, self._writer)
        self.routing = RoutingStore(engine, self.events)
        #: SLA policies, clocks that follow ``events``, breaches and response times (``crm.sla``)
        self.sla = SlaStore(engine, self._writer, self.events, late_after=sla_late_after)
        #: replies and their delivery state (``crm.outbox``; transitions append to ``events``),
        #: notes, canned responses
        self.outbox = OutboxStore(engine, self._writer, self.events)
        self.notes = NoteStore(engine, self._writer)
        self.canned = CannedStore(engine, self._writer)
        #: outbound webhook subscriptions and their delivery log (``crm.outbound_webhooks``)
        self.outbound_webhooks = OutboundWebhookStore(engine, self._writer)
        #: thread membership shared by every ingest process (``crm.threads``)
        self.threads = ThreadStore(engine)
        #: listening monitors, their windows and alerts (``crm.monitors``)
        self.monitors = MonitorStore(engine, self._writer, self._append_event)

    def _append_event(self, type_: str, data: dict[str, Any], conn: Connection) -> int:
        """Append an event in the caller's transaction (the event log, ``crm.events``)."""
        return self.events.append(type_, data=data, conn=conn)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # --- identity resolution -------------------------------------------------------------

    def upsert_from_messages(self, messages: Sequence[Message]) -> dict[str, str]:
        """Ensure one identity row and one contact per author; returns identity id -> contact id.

        One transaction per call; replaying messages already seen counts nothing twice.
        """
        if not messages:
            return {}
        return write(self._writer, lambda conn: upsert_authors(conn, self.resolver, messages))

    def contact_for_identity(self, identity_id: str) -> str | None:
        with self.engine.connect() as conn:
            query = select(identities.c.contact_id).where(identities.c.id == identity_id)
            return conn.execute(query).scalar_one_or_none()

    def identity_ids(self, contact_id: str) -> list[str]:
        """The ids of ``contact_id``'s identities (the KB's ``author_ids``)."""
        with self.engine.connect() as conn:
            query = (
                select(identities.c.id).where(identities.c.contact_id == contact_id).order_by(identities.c.id)
            )
            return list(conn.execute(query).scalars())

    # --- reading contacts ----------------------------------------------------------------

    def _views(self, conn: Connection, rows: Sequence[Any]) -> list[ContactView]:
        ids = [row["id"] for row in rows]
        by_contact: dict[str, list[Any]] = {cid: [] for cid in ids}
        for part in chunks(ids):
            query = select(identities).where(identities.c.contact_id.in_(part))
            for ident in conn.execute(query).mappings():
                by_contact[ident["contact_id"]].append(ident)
        return [contact_view(row, by_contact[row["id"]]) for row in rows]

    def get_contact(self, contact_id: str) -> ContactView | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
            return self._views(conn, [row])[0] if row is not None else None

    def get_contacts(self, contact_ids: Sequence[str]) -> dict[str, ContactView]:
        with self.engine.connect() as conn:
            rows: list[Any] = []
            for part in chunks(sorted(set(contact_ids))):
                rows.extend(conn.execute(select(contacts).where(contacts.c.id.in_(part))).mappings().all())
            return {view.id: view for view in self._views(conn, rows)}

    def search_contacts(
        self, q: str | None, limit: int = 20, offset: int = 0
    ) -> tuple[int, list[ContactView]]:
        """Live contacts whose name, handle, email or phone contains ``q`` (all when empty),
        most recently active first; returns (total, page)."""
        condition: Any = contacts.c.merged_into.is_(None)
        text = (q or "").strip().lower()
        if text:
            needles = [text.lstrip("@")]
            phone = self.resolver.phone(text) if any(ch.isdigit() for ch in text) else None
            if phone is not None and phone.note is None:
                needles.append(phone.value.lower())
            if "@" in text[1:]:
                needles.append(self.resolver.email(text).value)
            matches = [contacts.c.search_text.like(_like(n), escape="\\") for n in dict.fromkeys(needles)]
            condition = and_(condition, or_(contacts.c.id == text, *matches))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(contacts).where(condition)).scalar_one()
            query = (
                select(contacts)
                .where(condition)
                .order_by(contacts.c.last_seen.desc().nulls_last(), contacts.c.id)
                .limit(limit)
                .offset(offset)
            )
            rows = conn.execute(query).mappings().all()
            return total, self._views(conn, rows)

    def count_contacts(self) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(contacts).where(contacts.c.merged_into.is_(None))
            return conn.execute(query).scalar_one()

    # --- changing contacts ---------------------------------------------------------------

    def update_contact(
        self,
        contact_id: str,
        *,
        display_name: str | None = None,
        tags: Sequence[str] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> ContactView:
        """Set a person-given name, replace the tags, or merge ``attributes`` in (a ``None``
        value deletes the key).

        Raises ``InvalidRequest`` before writing anything when the attributes, alone or merged
        with the stored ones, are not what :func:`crm.attributes.attributes_problem` accepts:
        the store never holds a document it cannot read back."""
        if attributes is not None and (problem := attributes_problem(attributes)) is not None:
            raise InvalidRequest(problem)
        for text in [display_name or "", *(tags or [])]:
            if (problem := text_problem(text)) is not None:
                raise InvalidRequest(f"a display name or tag {problem}")

        def work(conn: Connection) -> None:
            row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
            if row is None:
                raise NotFound(f"contact {contact_id} does not exist")
            values: dict[str, Any] = {"updated_at": utcnow()}
            if display_name is not None:
                values["name_override"] = display_name.strip() or None
            if tags is not None:
                values["tags"] = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
            if attributes is not None:
                merged = {**(row["attributes"] or {}), **attributes}
                values["attributes"] = {k: v for k, v in merged.items() if v is not None}
                if (problem := attributes_problem(values["attributes"])) is not None:
                    raise InvalidRequest(problem)
            conn.execute(update(contacts).where(contacts.c.id == contact_id).values(values))

        write(self._writer, work)
        view = self.get_contact(contact_id)
        assert view is not None
        return view

    def merge(
        self, survivor_id: str, absorbed_id: str, *, actor: str | None = None, reason: str | None = None
    ) -> MergeEventView:
        """Merge ``absorbed_id`` into ``survivor_id`` by hand."""
        if survivor_id == absorbed_id:
            raise InvalidRequest("a contact cannot be merged into itself")
        event_id = write(
            self._writer,
            lambda conn: merge_contacts(
                conn,
                survivor_id,
                absorbed_id,
                mode="manual",
                reason=reason or "merged by a person",
                actor=actor,
            ),
        )
        return self._event(event_id)

    def unmerge(
        self, contact_id: str, *, event_id: str | None = None, actor: str | None = None
    ) -> MergeEventView:
        """Undo the latest (or the named) merge of ``contact_id``, restoring both contacts."""
        undo_id = write(
            self._writer, lambda conn: unmerge_contact(conn, contact_id, event_id=event_id, actor=actor)
        )
        return self._event(undo_id)

    def split(
        self, contact_id: str, identity_ids: Sequence[str], *, actor: str | None = None, reason: str = ""
    ) -> MergeEventView:
        """Move ``identity_ids`` out of ``contact_id`` into a new contact (the event's absorbed_id)."""
        _, event_id = write(
            self._writer,
            lambda conn: split_contact(conn, contact_id, identity_ids, actor=actor, reason=reason),
        )
        return self._event(event_id)

    def _event(self, event_id: str) -> MergeEventView:
        with self.engine.connect() as conn:
            row = conn.execute(select(merge_events).where(merge_events.c.id == event_id)).mappings().one()
            return event_view(row)

    def history(self, contact_id: str) -> list[MergeEventView]:
        """Every merge, unmerge and split ``contact_id`` took part in, oldest first."""
        with self.engine.connect() as conn:
            query = (
                select(merge_events)
                .where(
                    or_(merge_events.c.survivor_id == contact_id, merge_events.c.absorbed_id == contact_id)
                )
                .order_by(merge_events.c.created_at, merge_events.c.id)
            )
            return [event_view(row) for row in conn.execute(query).mappings()]

    # --- dead letters --------------------------------------------------------------------

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Store ``letters`` (idempotent by id); returns how many were new."""
        return self._dead_letters.add(letters)

    def list_dead_letters(
        self, limit: int = 50, offset: int = 0, stage: str | None = None
    ) -> tuple[int, list[DeadLetter]]:
        """Newest first; returns (total, page)."""
        return self._dead_letters.list(limit=limit, offset=offset, stage=stage)

    def count_dead_letters(self) -> int:
        return self._dead_letters.count()

    # --- inbox (webhook envelopes waiting for the flow; contract in crm.inbox) -----------

    def add_inbox(self, envelopes: Sequence[Envelope]) -> list[int]:
        """Store ``envelopes`` in one transaction, committed before this returns; their ids,
        in order. Ids only grow in commit order and are never reused. Raises
        ``MalformedPayload`` (nothing stored) when a payload is neither JSON nor bytes."""
        return self._inbox.add(envelopes)

    def read_inbox(self, after_id: int, limit: int) -> list[InboxEntry]:
        """Up to ``limit`` rows with ids above ``after_id``, oldest first; marks nothing."""
        return self._inbox.read(after_id, limit)

    def mark_inbox_read(self, after_id: int, through_id: int) -> None:
        """Record that rows ``after_id < id <= through_id`` were handed to the flow just now."""
        self._inbox.mark_read(after_id, through_id)

    def inbox_read_through(self) -> int:
        """The highest id ever marked read (0 when none): where a reader without a cursor starts."""
        return self._inbox.read_through()

    def first_unread_inbox(self) -> int | None:
        """The lowest id never marked read, or ``None`` when every row has been read."""
        return self._inbox.first_unread()

    def count_inbox(self, *, unread: bool = False) -> int:
        """Rows in the inbox (only those never read, with ``unread``)."""
        return self._inbox.count(unread=unread)

    def prune_inbox(self, through_id: int, read_before: datetime) -> int:
        """Delete rows up to ``through_id`` last read before ``read_before``; unread rows stay.
        Returns how many were deleted."""
        return self._inbox.prune(through_id, read_before)
