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
* ``inbox`` ids only grow, in commit order, and are never reused (SQLite AUTOINCREMENT; on
  PostgreSQL writers take an advisory lock), so a reader's "after id N" cursor misses nothing;
  ``audit_log`` and ``events`` ids the same way;
* an agent's ``email_key`` is its email lower-cased: unique, so one address is one agent
  whatever its case; credentials (tokens, sessions, sign-in links) are stored only as SHA-256
  digests of the secret, never the secret itself; passwords only as argon2 hashes.
* thread membership (``crm.threads``): every ``thread_nodes`` row names its component's current
  conversation (never a folded one), and every ``conversation_aliases`` row points straight at
  a current conversation (one hop), so resolving an id is one lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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
    "agents",
    "api_tokens",
    "audit_log",
    "contacts",
    "conversation_aliases",
    "dead_letters",
    "events",
    "identities",
    "inbox",
    "merge_blocks",
    "merge_events",
    "metadata",
    "processed_messages",
    "segment_members",
    "segments",
    "sessions",
    "sign_in_links",
    "team_members",
    "teams",
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

#: an integer primary key that is the rowid on SQLite (so AUTOINCREMENT applies) and 64-bit elsewhere
InboxId = BigInteger().with_variant(Integer(), "sqlite")

inbox = Table(
    "inbox",
    metadata,
    Column("id", InboxId, primary_key=True, autoincrement=True),
    Column("channel", Text, nullable=False),
    Column("account", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    #: the envelope as JSON text (crm.inbox encodes it): text, not a JSON column, so every
    #: backend stores exactly the bytes written (bytes payloads as base64, NaN, \u0000 escapes)
    Column("envelope", Text, nullable=False),
    #: when the inbox source last handed this row to the flow; NULL = not read yet (never pruned)
    Column("read_at", UTCDateTime(), index=True),
    # without AUTOINCREMENT SQLite reuses the highest id once it is deleted, which a reader's
    # cursor would skip
    sqlite_autoincrement=True,
)

# --- the team: agents, teams, credentials and the audit log (migration 0004) ----------------

#: a SHA-256 digest of a credential, hex
Digest = String(64)

agents = Table(
    "agents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    #: as given (shown); ``email_key`` is what identifies the agent
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    #: admin | supervisor | agent | viewer (crm.agents.ROLES)
    Column("role", String(16), nullable=False),
    #: ISO 639-1 codes of the languages the agent answers in; [] = none declared
    Column("languages", JSON, nullable=False, default=list),
    #: the channels the agent handles (channels.CHANNELS names); [] = none declared
    Column("channels", JSON, nullable=False, default=list),
    #: the most conversations assigned to the agent and open at once (0 = none assigned)
    Column("capacity", Integer, nullable=False),
    #: online | away | offline, and when it last changed (routing waits for "online")
    Column("availability", String(16), nullable=False),
    Column("availability_at", UTCDateTime(), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    #: argon2 hash; NULL = the agent signs in only with links and tokens
    Column("password_hash", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", ID, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ID, ForeignKey("agents.id"), primary_key=True),
    Column("added_at", UTCDateTime(), nullable=False),
    Index("ix_team_members_agent_id", "agent_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("agent_id", ID, ForeignKey("agents.id"), nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("token_digest", Digest, nullable=False, unique=True),
    #: the token's first characters, so people can tell their tokens apart
    Column("hint", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

sessions = Table(
    "sessions",
    metadata,
    #: the digest of the session cookie's value
    Column("id_digest", Digest, primary_key=True),
    Column("agent_id", ID, ForeignKey("agents.id"), nullable=False, index=True),
    #: the digest of the CSRF token handed out with the session
    Column("csrf_digest", Digest, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

sign_in_links = Table(
    "sign_in_links",
    metadata,
    Column("token_digest", Digest, primary_key=True),
    Column("agent_id", ID, ForeignKey("agents.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", InboxId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    #: the agent who made the change; NULL for the command line and the hub itself
    Column("actor_id", ID, index=True),
    #: the actor as they were then (their email; "cli" or "system" without an agent)
    Column("actor", Text, nullable=False),
    #: how the actor was authenticated: token | session | cli | system
    Column("via", String(16), nullable=False),
    #: what was done, ``<resource>.<verb>``: conversation.update, contact.merge, feed.add...
    Column("action", String(64), nullable=False, index=True),
    Column("target_type", String(32), nullable=False),
    Column("target_id", Text),
    #: what changed: a bounded summary of the values before and after (crm.audit.summarise)
    Column("before", JSON),
    Column("after", JSON),
    Column("request_id", String(64)),
    sqlite_autoincrement=True,
)

# --- the event log (migration 0005; crm.events, docs/events.md) ----------------------------

events = Table(
    "events",
    metadata,
    Column("id", InboxId, primary_key=True, autoincrement=True),
    #: when the event was recorded
    Column("at", UTCDateTime(), nullable=False),
    #: ``subject.verb``: conversation.assigned, reply.sent, sla.breached...
    Column("type", String(64), nullable=False, index=True),
    Column("conversation_id", Text, index=True),
    Column("contact_id", ID, index=True),
    #: the agent who caused it; NULL for the hub itself (a rule, the flow, a timer)
    Column("actor_id", ID),
    #: small JSON: ids, states and times, never message text or secrets
    Column("data", JSON, nullable=False),
    sqlite_autoincrement=True,
)

# --- thread membership (migration 0003; crm.threads) ----------------------------------------

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
