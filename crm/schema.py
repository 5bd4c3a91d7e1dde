"""The CRM store's tables (SQLAlchemy Core), the single source the Alembic migrations mirror.

Invariants the store keeps:

* every identity row belongs to exactly one *live* contact (``merged_into IS NULL``); a
  merged contact stays as a tombstone pointing at the contact that absorbed it;
* an email address or phone number is an identity of its own (channel ``email`` / ``phone``,
  native id the normalised value) whose primary key is derived from ``(channel, native_id)``:
  that key is what guarantees "one contact per address" even under concurrent writers;
* ``processed_messages`` remembers which messages were counted, so replays count nothing twice;
* contact rollups are derived from the identities' own statistics and recomputed whenever a
  contact's identities change, which is what makes an unmerge exact;
* thread membership (``crm.threads``): every ``thread_nodes`` row names its component's current
  conversation (never a folded one), and every ``conversation_aliases`` row points straight at
  a current conversation (one hop), so resolving an id is one lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "contacts",
    "conversation_aliases",
    "dead_letters",
    "identities",
    "merge_blocks",
    "merge_events",
    "metadata",
    "processed_messages",
    "segment_members",
    "segments",
    "thread_nodes",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite compares datetimes as text: store them naive-UTC so ordering stays correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(64)

contacts = Table(
    "contacts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("display_name", Text),
    #: a name set by a person; wins over the name derived from identities
    Column("name_override", Text),
    Column("merged_into", ID, index=True),
    Column("merged_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("first_seen", UTCDateTime(), index=True),
    Column("last_seen", UTCDateTime(), index=True),
    Column("message_count", Integer, nullable=False, default=0),
    Column("sentiment_sum", Float, nullable=False, default=0.0),
    Column("sentiment_n", Integer, nullable=False, default=0),
    Column("sentiment_avg", Float, index=True),
    Column("channel_counts", JSON, nullable=False, default=dict),
    Column("languages", JSON, nullable=False, default=list),
    Column("tags", JSON, nullable=False, default=list),
    Column("attributes", JSON, nullable=False, default=dict),
    #: lower-cased names, handles, emails and phones, for substring search
    Column("search_text", Text, nullable=False, default=""),
)

identities = Table(
    "identities",
    metadata,
    Column("id", ID, primary_key=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("channel", Text, nullable=False),
    Column("native_id", Text, nullable=False),
    #: account (a channel author), email or phone (derived, merge-carrying identities)
    Column("kind", String(16), nullable=False),
    Column("handle", Text),
    Column("display_name", Text),
    Column("email", Text),
    #: why the email is not merged on (role address, own address, invalid: ...); NULL = merged on
    Column("email_note", Text),
    Column("phone", Text),
    Column("phone_note", Text),
    #: the identity through which this one joined its contact (so an unmerge moves it along)
    Column("linked_via", ID),
    Column("message_count", Integer, nullable=False, default=0),
    Column("first_seen", UTCDateTime()),
    Column("last_seen", UTCDateTime()),
    Column("sentiment_sum", Float, nullable=False, default=0.0),
    Column("sentiment_n", Integer, nullable=False, default=0),
    Column("languages", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # (channel, native_id) is unique through the primary key, which is derived from both;
    # no separate unique index, so arbitrarily long native ids stay storable.
)

processed_messages = Table(
    "processed_messages",
    metadata,
    Column("message_id", ID, primary_key=True),
    Column("identity_id", ID, nullable=False),
    Column("processed_at", UTCDateTime(), nullable=False),
)

merge_events = Table(
    "merge_events",
    metadata,
    Column("id", ID, primary_key=True),
    #: merge | unmerge | split
    Column("action", String(16), nullable=False),
    #: auto (identity resolution) | manual (a person through the API)
    Column("mode", String(16), nullable=False),
    Column("survivor_id", ID, nullable=False, index=True),
    Column("absorbed_id", ID, nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("actor", Text),
    Column("identity_ids", JSON, nullable=False, default=list),
    #: what undoing needs: tags/attributes/name added to the survivor, segment rows moved
    Column("details", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("undone_at", UTCDateTime()),
    Column("undone_by", ID),
)

merge_blocks = Table(
    "merge_blocks",
    metadata,
    # stored with contact_a < contact_b
    Column("contact_a", ID, primary_key=True),
    Column("contact_b", ID, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    #: static | dynamic
    Column("kind", String(16), nullable=False),
    Column("criteria", Text),
    Column("description", Text),
    Column("member_count", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("refreshed_at", UTCDateTime()),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("segment_id", ID, ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), primary_key=True),
    Column("added_at", UTCDateTime(), nullable=False),
    Index("ix_segment_members_contact_id", "contact_id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", ID, primary_key=True),
    Column("stage", String(128), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("channel", Text),
    Column("kind", Text),
    Column("raw_ref", Text),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
)

thread_nodes = Table(
    "thread_nodes",
    metadata,
    #: ``conversation_id_for(channel, account, native id)``: the conversation this message would
    #: root, so a component's id is the key of its root node
    Column("key", ID, primary_key=True),
    #: the component's current conversation; rewritten when components merge
    Column("conversation_id", ID, nullable=False),
    #: some message says this node has a parent (its own, or a reply naming its ancestry):
    #: a node with none is a candidate root of its component
    Column("has_parent", Boolean, nullable=False),
    #: the node's own message has been assigned (a replay keeps its conversation)
    Column("seen", Boolean, nullable=False),
    Index("ix_thread_nodes_conversation_id_has_parent", "conversation_id", "has_parent"),
)

conversation_aliases = Table(
    "conversation_aliases",
    metadata,
    #: a conversation folded into another
    Column("conversation_id", ID, primary_key=True),
    #: the current conversation it joined (one hop: re-pointed when that one folds too)
    Column("into_id", ID, nullable=False, index=True),
    #: its knowledge-base documents have been moved into ``into_id``
    Column("moved", Boolean, nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
