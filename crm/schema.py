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
* outbound webhooks (``crm.outbound_webhooks``): a subscription's ``cursor`` is the last event
  it has queued; a delivery row is queued in the transaction that moves the cursor past its
  event, and ``(subscription_id, message_id)`` is unique, so an event is queued once per
  subscription whatever crashes.
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
    "canned_responses",
    "contacts",
    "conversation_aliases",
    "conversation_routing",
    "dead_letters",
    "events",
    "identities",
    "inbox",
    "merge_blocks",
    "merge_events",
    "metadata",
    "monitor_alerts",
    "monitor_hits",
    "monitor_windows",
    "monitors",
    "notes",
    "outbox",
    "processed_messages",
    "routing_rules",
    "segment_members",
    "segments",
    "sessions",
    "sign_in_links",
    "team_cursors",
    "team_members",
    "teams",
    "thread_nodes",
    "webhook_deliveries",
    "webhook_subscriptions",
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

# --- routing: rules, each conversation's routing state, round-robin cursors (migration 0006) --

routing_rules = Table(
    "routing_rules",
    metadata,
    Column("id", ID, primary_key=True),
    #: evaluation order, lowest first (ties by id)
    Column("position", Integer, nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("enabled", Boolean, nullable=False),
    #: crm.rules.RuleCondition as JSON: a listening query and conversation field values
    Column("condition", JSON, nullable=False),
    #: crm.rules.RuleActions as JSON: queue, priority, tags, assign
    Column("actions", JSON, nullable=False),
    #: a match ends the evaluation (later rules are not read)
    Column("stop", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

conversation_routing = Table(
    "conversation_routing",
    metadata,
    #: the conversation (its knowledge-base document is the searchable projection of this row)
    Column("conversation_id", ID, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("account", String(256), nullable=False),
    #: the contact of the customer who opened it (sticky assignment reads it)
    Column("contact_id", ID, index=True),
    Column("language", String(16)),
    #: open | pending | resolved | snoozed
    Column("status", String(16), nullable=False),
    Column("snoozed_until", UTCDateTime(), index=True),
    #: the agent it is assigned to; an agent's load is their rows not resolved
    Column("assignee", String(256), index=True),
    Column("queue", String(256)),
    Column("priority", String(16), nullable=False),
    Column("tags", JSON, nullable=False),
    #: a rule asked for an agent and none fitted: crm.rules.AssignSpec to retry, and since when
    Column("wait_spec", JSON(none_as_null=True)),
    Column("wait_rule_id", ID),
    Column("waiting_since", UTCDateTime(), index=True),
    #: the last agent assigned (kept when it is released, for sticky assignment) and when
    Column("last_assignee", String(256)),
    Column("assigned_at", UTCDateTime()),
    #: folded into another conversation (crm.threads): no longer routed, holds no capacity
    Column("folded_into", ID),
    #: one more in every transaction that changes the row (migration 0013): the knowledge base
    #: stores the version its document shows and refuses an older one (crm.routing)
    Column("version", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_conversation_routing_contact_id_assigned_at", "contact_id", "assigned_at"),
)

team_cursors = Table(
    "team_cursors",
    metadata,
    #: round-robin position per team: the agent who got the team's last conversation
    Column("team_id", ID, primary_key=True),
    Column("last_agent_id", ID, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
# --- replies: the outbox, internal notes and canned responses (migration 0008; crm.outbox) --

outbox = Table(
    "outbox",
    metadata,
    #: ``rpl_<hex>``; the channel derives what it can from it (mail: the Message-ID)
    Column("id", ID, primary_key=True),
    Column("conversation_id", ID, nullable=False, index=True),
    Column("channel", String(64), nullable=False),
    Column("account", Text, nullable=False),
    #: the hub id of the message answered (the conversation's latest inbound one by default)
    Column("in_reply_to", ID),
    #: the agent who wrote it (the signed-in agent)
    Column("author_id", ID, nullable=False, index=True),
    #: the client's ``Idempotency-Key``, unique per author; NULL = none given
    Column("idempotency_key", String(256)),
    #: SHA-256 of the request the key was first used with: the same key with another request is refused
    Column("request_digest", String(64)),
    #: a private message (True: a DM) or a public reply (False) where the channel has both;
    #: NULL = the channel's usual way for the answered message
    Column("private", Boolean),
    Column("subject", Text),
    Column("text", Text, nullable=False),
    Column("html", Text),
    #: explicit recipients (``hub.models.Identity`` as JSON); [] = the channel's default
    Column("recipients", JSON, nullable=False, default=list),
    #: attachment metadata (``hub.models.Attachment`` as JSON); the content is never stored
    Column("attachments", JSON, nullable=False, default=list),
    Column("canned_response_id", ID),
    #: queued | sending | sent | delivered | failed | unknown (crm.outbox.STATES)
    Column("state", String(16), nullable=False),
    #: sends tried so far (a send in doubt counts)
    Column("attempts", Integer, nullable=False, default=0),
    #: a queued row is not taken before this (backoff, Retry-After)
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    #: who took the row to send it (a dispatcher run), and until when its claim holds
    Column("claimed_by", String(128)),
    Column("lease_until", UTCDateTime()),
    #: when this attempt reached its point of no return (SMTP DATA); NULL = the platform
    #: cannot have it yet, so a sender dying before is known not to have sent it
    Column("handed_over_at", UTCDateTime()),
    #: the platform's id of the sent reply (mail: the Message-ID; X: the tweet or ``dm:`` id)
    Column("platform_id", Text),
    #: the hub id of the outbound message in the knowledge base
    Column("message_id", ID),
    #: why it failed, is unknown or was retried: what happened and what to do
    Column("reason", Text),
    #: the outbound message is in the knowledge base (written after the state is recorded)
    Column("recorded", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("delivered_at", UTCDateTime()),
    Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    Index("uq_outbox_author_id_idempotency_key", "author_id", "idempotency_key", unique=True),
)

notes = Table(
    "notes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("conversation_id", ID, nullable=False, index=True),
    Column("author_id", ID, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    #: what an agent types to pick it (``/refund``), unique
    Column("shortcut", String(64), nullable=False, unique=True),
    #: language code (ISO 639-1, or ``default``) -> template text
    Column("variants", JSON, nullable=False),
    Column("created_by", ID),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- outbound webhooks (migration 0009; crm.outbound_webhooks) --------------------------------

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", Text),
    #: the event types sent (``conversation.*`` for a family); NULL = every type
    Column("event_types", JSON),
    #: ``whsec_<base64 key>``: kept as written, since the hub must sign with it (see the module)
    Column("secret", Text, nullable=False),
    #: the secret before the last rotation: deliveries are signed with it too (a second
    #: signature) until ``previous_secret_until``, so receivers can switch without a gap
    Column("previous_secret", Text),
    Column("previous_secret_until", UTCDateTime()),
    Column("enabled", Boolean, nullable=False),
    #: why it was disabled (by an admin, or after repeated failures); NULL while enabled
    Column("disabled_reason", Text),
    Column("disabled_at", UTCDateTime()),
    #: attempts that failed in a row, any delivery; a success resets it
    Column("consecutive_failures", Integer, nullable=False),
    #: no attempt before this (set after a failure, so a dead receiver gets one try per backoff)
    Column("paused_until", UTCDateTime()),
    #: the id of the last event queued for this subscription (or skipped by its filter)
    Column("cursor", BigInteger, nullable=False),
    Column("created_by", ID),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", InboxId, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        ID,
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    #: the event delivered; NULL for a test message
    Column("event_id", BigInteger),
    #: the ``webhook-id`` header: ``evt_<event id>`` (the same on every retry), ``test_...``
    Column("message_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    #: the exact JSON body sent on every attempt
    Column("body", Text, nullable=False),
    #: pending | delivered | failed
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    #: when the next attempt is due (while pending; a claim pushes it past the attempt's timeout)
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_attempt_at", UTCDateTime()),
    Column("finished_at", UTCDateTime(), index=True),
    #: the receiver's HTTP status on the last attempt (NULL: no answer)
    Column("last_status", Integer),
    #: why the last attempt failed, in a sentence
    Column("last_error", Text),
    #: the start of the receiver's last answer body
    Column("last_response", Text),
    Index("uq_webhook_deliveries_subscription_id_message_id", "subscription_id", "message_id", unique=True),
    Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    sqlite_autoincrement=True,
)

# --- listening monitors (migration 0010; crm.monitors, crm.monitor_windows, crm.monitor_alerts) --

monitors = Table(
    "monitors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    #: the listening query (kb.query language), checked when saved
    Column("query", Text, nullable=False),
    #: channels / languages the monitor is limited to; empty = any
    Column("channels", JSON, nullable=False),
    Column("languages", JSON, nullable=False),
    Column("owner_id", ID),
    #: crm.monitors.AlertSettings as JSON
    Column("alerts", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    #: why the hub disabled it (a run-time failure); NULL when a person did, or it is enabled
    Column("disabled_reason", Text),
    #: the store-wide change counter when this row last changed: unique, only grows, so the
    #: flow reloads its monitors when ``max(revision)`` differs from what it loaded
    Column("revision", BigInteger, nullable=False, unique=True),
    #: the revision at which what it matches (query, channels, languages) last changed: hits
    #: carry it, and hits of an older one are refused
    Column("match_revision", BigInteger, nullable=False),
    #: deleted monitors stay as tombstones so the change counter never goes back
    Column("deleted", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    #: when the last backfill from the knowledge base finished (NULL: never)
    Column("backfilled_at", UTCDateTime()),
)

monitor_hits = Table(
    "monitor_hits",
    metadata,
    #: one matched message of one monitor: windows are recounted from these, so a replay or a
    #: late message is counted exactly once
    Column("monitor_id", ID, primary_key=True),
    Column("message_id", ID, primary_key=True),
    #: the monitor revision it was matched under; hits of an older revision are refused
    Column("revision", BigInteger, nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("language", String(32), nullable=False),
    #: negative | neutral | positive, NULL when unknown
    Column("sentiment", String(16)),
    Column("author", Text),
    Column("hashtags", JSON, nullable=False),
    Column("entities", JSON, nullable=False),
    Index("ix_monitor_hits_monitor_id_window_start", "monitor_id", "window_start"),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("monitor_id", ID, primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("volume", Integer, nullable=False),
    Column("negative", Integer, nullable=False),
    Column("neutral", Integer, nullable=False),
    Column("positive", Integer, nullable=False),
    Column("unknown", Integer, nullable=False),
    #: {value: count} for channels and languages; [[value, count], ...] top lists for the rest
    Column("channels", JSON, nullable=False),
    Column("languages", JSON, nullable=False),
    Column("hashtags", JSON, nullable=False),
    Column("entities", JSON, nullable=False),
    Column("authors", JSON, nullable=False),
    #: times the window was recounted after late messages (the correction path)
    Column("corrections", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    #: when its hits were pruned (``monitors.hit_retention_days`` after its last update): its
    #: counts are final, and later hits of it are refused rather than recounted without the rest
    Column("sealed_at", UTCDateTime()),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("monitor_id", ID, nullable=False),
    #: volume_spike | negative_share | emerging_term
    Column("kind", String(32), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    #: the hashtag or entity of an emerging-term alert
    Column("term", Text),
    #: the messages that caused it (bounded)
    Column("message_ids", JSON, nullable=False),
    Column("fired_at", UTCDateTime(), nullable=False),
    #: one alert per monitor, kind and window, whatever restarts and replays
    Index(
        "ix_monitor_alerts_monitor_id_kind_window_start", "monitor_id", "kind", "window_start", unique=True
    ),
)
