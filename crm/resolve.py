"""Identity resolution: message authors in, one contact per person out.

For a batch of messages, in one write transaction:

1. messages already counted (``processed_messages``) add nothing, so replays are idempotent;
2. every inbound author gets an identity row, and its mergeable email address and phone number
   get identity rows of their own (``email``/``ann@example.org``, ``phone``/``+447700900123``);
3. the author joins the contact already holding any of those rows; when they are held by
   several contacts, the oldest absorbs the others (an ``auto`` merge event naming the shared
   address), unless a person split them apart before (a merge block);
4. touched contacts get their rollups recomputed from their identities.

Outbound messages are the hub's own voice: they are marked processed but create no contact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from crm.bulk import bulk_insert, bulk_update
from crm.ids import clean_text, contact_id_for, new_contact_row
from crm.merges import merge_contacts
from crm.normalise import Normalised, Resolver
from crm.rollups import chunks, recompute_rollups, rollup_values
from crm.schema import contacts, identities, merge_blocks, processed_messages
from hub.models import Direction, Identity, Message, identity_id, utcnow

__all__ = ["upsert_authors"]


@dataclass
class _Author:
    identity: Identity
    email: Normalised | None = None
    phone: Normalised | None = None
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    sentiment_sum: float = 0.0
    sentiment_n: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    #: (row id, normalised value) of the merge-carrying email/phone identities
    keys: list[tuple[str, Normalised]] = field(default_factory=list)

    def count_message(self, message: Message) -> None:
        self.count += 1
        at = message.created_at
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)
        sentiment = message.enrichment.sentiment
        if message.enrichment.done and sentiment is not None:  # unknown is not neutral: skipped
            self.sentiment_sum += sentiment
            self.sentiment_n += 1
        for language in (message.enrichment.language, message.language):
            if language and language != "und":  # "und" means the detector could not tell
                self.languages[language] += 1
                break


def _collect(conn: Connection, resolver: Resolver, messages: Sequence[Message]) -> dict[str, _Author]:
    unique = {m.id: m for m in messages if m.author is not None}
    ids = list(unique)
    seen: set[str] = set()
    for part in chunks(ids):
        seen.update(
            conn.execute(
                select(processed_messages.c.message_id).where(processed_messages.c.message_id.in_(part))
            ).scalars()
        )
    now = utcnow()
    fresh = [m for m in unique.values() if m.id not in seen]
    if fresh:
        bulk_insert(
            conn,
            processed_messages,
            [
                {"message_id": m.id, "identity_id": m.author.id, "processed_at": now}
                for m in fresh
                if m.author
            ],
        )
    authors: dict[str, _Author] = {}
    for message in sorted(unique.values(), key=lambda m: m.created_at):
        if message.author is None or message.direction == Direction.OUT:
            continue
        author = authors.get(message.author.id)
        if author is None:
            author = authors[message.author.id] = _Author(identity=message.author)
        else:
            # the newest message says what the account is called now; keep what it omits
            fields = message.author.model_dump(exclude_none=True)
            author.identity = author.identity.model_copy(update=fields)
        if message.id not in seen:
            author.count_message(message)
    for author in authors.values():
        ident = author.identity
        author.email = resolver.email(ident.email) if ident.email else None
        author.phone = resolver.phone(ident.phone) if ident.phone else None
        for key in (author.email, author.phone):
            if key is not None and key.mergeable:
                author.keys.append((identity_id(key.kind, key.value), key))
    return authors


def _author_row(author: _Author, row: Mapping[Any, Any] | None = None) -> dict[str, Any]:
    """The descriptive columns; what this batch does not know is kept from ``row``."""
    ident = author.identity
    old = row or {}
    values = {
        "handle": clean_text(ident.handle) if ident.handle is not None else old.get("handle"),
        "display_name": clean_text(ident.display_name)
        if ident.display_name is not None
        else old.get("display_name"),
        "email": old.get("email"),
        "email_note": old.get("email_note"),
        "phone": old.get("phone"),
        "phone_note": old.get("phone_note"),
    }
    if author.email is not None:
        values.update(email=clean_text(author.email.value), email_note=author.email.note)
    if author.phone is not None:
        values.update(phone=clean_text(author.phone.value), phone_note=author.phone.note)
    return values


class _Batch:
    """The in-memory state of one resolution pass: which row belongs to which contact."""

    def __init__(self, conn: Connection, row_ids: Sequence[str]) -> None:
        self.conn = conn
        self.now = utcnow()
        self.rows: dict[str, Mapping[Any, Any]] = {}
        for part in chunks(sorted(set(row_ids))):
            for row in conn.execute(select(identities).where(identities.c.id.in_(part))).mappings():
                self.rows[row["id"]] = row
        self.owner: dict[str, str] = {rid: row["contact_id"] for rid, row in self.rows.items()}
        contact_ids = sorted(set(self.owner.values()))
        self.created: dict[str, tuple[datetime, str]] = {}
        self.blocks: set[tuple[str, str]] = set()
        for part in chunks(contact_ids):
            for cid, created in conn.execute(
                select(contacts.c.id, contacts.c.created_at).where(contacts.c.id.in_(part))
            ).all():
                self.created[cid] = (created, cid)
            self.blocks.update(
                (a, b)
                for a, b in conn.execute(
                    select(merge_blocks.c.contact_a, merge_blocks.c.contact_b).where(
                        or_(merge_blocks.c.contact_a.in_(part), merge_blocks.c.contact_b.in_(part))
                    )
                ).all()
            )
        self.redirect: dict[str, str] = {}
        self.new_contacts: dict[str, dict[str, Any]] = {}
        self.new_rows: dict[str, dict[str, Any]] = {}
        self.touched: set[str] = set()

    def contact_of(self, row_id: str) -> str | None:
        cid = self.owner.get(row_id)
        while cid is not None and cid in self.redirect:
            cid = self.redirect[cid]
        return cid

    def blocked(self, a: str, b: str) -> bool:
        first, second = sorted((a, b))
        return (first, second) in self.blocks

    def new_contact(self, author_id: str) -> str:
        cid = contact_id_for(author_id)
        self.new_contacts[cid] = new_contact_row(cid, self.now)
        # later than every existing contact, in batch order among new ones
        self.created[cid] = (self.now, f"~{len(self.new_contacts):09d}")
        return cid

    def flush_inserts(self) -> None:
        if self.new_contacts:
            bulk_insert(self.conn, contacts, list(self.new_contacts.values()))
            self.new_contacts.clear()
        if self.new_rows:
            bulk_insert(self.conn, identities, list(self.new_rows.values()))
            self.new_rows.clear()

    def merge(self, survivor: str, absorbed: str, reason: str) -> None:
        self.flush_inserts()  # merge_contacts works on what is in the database
        merge_contacts(self.conn, survivor, absorbed, mode="auto", reason=reason, rollups=False)
        self.redirect[absorbed] = survivor
        self.touched.update((survivor, absorbed))

    def add_row(self, row_id: str, contact_id: str, values: dict[str, Any]) -> None:
        self.owner[row_id] = contact_id
        # the real time, not the batch's: an unmerge compares it with merges made in this batch
        now = utcnow()
        self.new_rows[row_id] = {
            "id": row_id,
            "contact_id": contact_id,
            **values,
            "created_at": now,
            "updated_at": now,
        }
        self.touched.add(contact_id)


def _empty_stats(now: datetime) -> dict[str, Any]:
    return {
        "message_count": 0,
        "first_seen": None,
        "last_seen": None,
        "sentiment_sum": 0.0,
        "sentiment_n": 0,
        "languages": {},
        "created_at": now,
        "updated_at": now,
        "linked_via": None,
    }


def _merge_reason(
    rid: str, key_reason: dict[str, str], holders: list[tuple[str, str | None]], target: str
) -> str:
    if rid in key_reason:
        return key_reason[rid]
    # the author's own contact joins the contact that holds one of the author's addresses
    held = [key_reason[k] for k, cid in holders if k in key_reason and cid == target]
    return (held or list(key_reason.values()) or ["same identity"])[0]


def _resolve_one(batch: _Batch, author: _Author) -> str:
    ident = author.identity
    key_reason = {rid: f"shared {key.kind} {key.value}" for rid, key in author.keys}
    holders = [(rid, batch.contact_of(rid)) for rid in [ident.id, *key_reason]]
    candidates = list(dict.fromkeys(cid for _, cid in holders if cid is not None))
    if not candidates:
        target = batch.new_contact(ident.id)
    else:
        target = min(candidates, key=lambda cid: batch.created[cid])
        for rid, _ in holders:
            current = batch.contact_of(rid)
            if current is None or current == target or batch.blocked(target, current):
                continue
            batch.merge(target, current, _merge_reason(rid, key_reason, holders, target))
    home = batch.contact_of(ident.id) or target
    linked = next((rid for rid, cid in holders if cid is not None and batch.contact_of(rid) == home), None)
    if ident.id not in batch.owner:
        values = {
            **_empty_stats(batch.now),
            "channel": clean_text(ident.channel),
            "native_id": clean_text(ident.native_id),
            "kind": "account",
            **_author_row(author),
            "linked_via": linked,
        }
        batch.add_row(ident.id, home, values)
    for rid, key in author.keys:
        if rid not in batch.owner:
            values = {
                **_empty_stats(batch.now),
                "channel": key.kind,
                "native_id": key.value,
                "kind": key.kind,
            }
            values.update(
                handle=None, display_name=None, email=None, email_note=None, phone=None, phone_note=None
            )
            batch.add_row(rid, home, {**values, "linked_via": ident.id})
    return home


def _stat_values(row: Mapping[Any, Any] | None, author: _Author) -> dict[str, Any]:
    first = [t for t in (row["first_seen"] if row else None, author.first) if t is not None]
    last = [t for t in (row["last_seen"] if row else None, author.last) if t is not None]
    languages = Counter(row["languages"] if row else {})
    languages.update(author.languages)
    return {
        "message_count": (row["message_count"] if row else 0) + author.count,
        "first_seen": min(first) if first else None,
        "last_seen": max(last) if last else None,
        "sentiment_sum": (row["sentiment_sum"] if row else 0.0) + author.sentiment_sum,
        "sentiment_n": (row["sentiment_n"] if row else 0) + author.sentiment_n,
        "languages": dict(languages),
    }


def upsert_authors(conn: Connection, resolver: Resolver, messages: Sequence[Message]) -> dict[str, str]:
    """Resolve the authors of ``messages``; returns identity id -> contact id."""
    authors = _collect(conn, resolver, messages)
    if not authors:
        return {}
    row_ids = [rid for a in authors.values() for rid in [a.identity.id, *(k for k, _ in a.keys)]]
    batch = _Batch(conn, row_ids)
    homes = {author_id: _resolve_one(batch, author) for author_id, author in authors.items()}
    updates = []
    for author_id, author in authors.items():
        pending = batch.new_rows.get(author_id)
        if pending is not None:
            pending.update(_author_row(author, pending), **_stat_values(None, author))
            continue
        row = batch.rows.get(author_id)
        values = {**_author_row(author, row), **_stat_values(row, author)}
        if row is not None and all(row[key] == value for key, value in values.items()):
            continue  # a replay or a message with nothing new: no write, no rollup
        updates.append({"id": author_id, **values, "updated_at": batch.now})
        batch.touched.add(batch.contact_of(author_id) or homes[author_id])
    _roll_up_new_contacts(batch)
    batch.flush_inserts()
    bulk_update(conn, identities, "id", updates)
    recompute_rollups(conn, batch.touched)
    return {author_id: batch.contact_of(author_id) or home for author_id, home in homes.items()}


def _roll_up_new_contacts(batch: _Batch) -> None:
    """Contacts created in this batch have only pending rows: roll them up before inserting."""
    rows_by_contact: dict[str, list[dict[str, Any]]] = {}
    for row in batch.new_rows.values():
        rows_by_contact.setdefault(row["contact_id"], []).append(row)
    for contact_id, contact in batch.new_contacts.items():
        contact.update(rollup_values(rows_by_contact.get(contact_id, [])))
        batch.touched.discard(contact_id)
