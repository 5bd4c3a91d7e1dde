"""Seeding the relational store's thread tables from a knowledge base that predates them.

A knowledge base written before thread membership moved to the relational store (or a CRM
moved to a fresh PostgreSQL database) has conversations the thread tables know nothing of:
a new reply to a stored message would open a conversation rooted at that message. Before its
first batch, the flow's knowledge-base step seeds the tables from what is stored (once: the
tables are then no longer empty; two processes seeding at once do the same idempotent work).

Every stored message is linked by the ids it names, as the thread step links new ones; one
that names nothing but sits in a conversation it does not root (the email subject fallback
put it there) follows that conversation's first message, so stored conversations keep their
members. Where the store's root rule disagrees with what is stored (a thread the old
threading split), the messages are moved to the store's conversation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from crm.threads import ThreadLink, ThreadStore
from flows.threading import ThreadState, thread_link
from hub.models import Message
from kb.base import KnowledgeBase
from kb.conversations import ConversationKeeper

__all__ = ["backfill_threads", "needs_backfill"]

log = logging.getLogger("parley.flow")

#: links per assignment transaction, and messages per rewrite
BACKFILL_BATCH = 1000


def needs_backfill(kb: KnowledgeBase, threads: ThreadStore) -> bool:
    """True when ``kb`` holds messages and the thread tables nothing.

    The knowledge base is asked first: a batch is assigned before it is written, so stored
    messages with empty tables can only come from before the tables (or from another CRM).
    """
    return kb.count_messages() > 0 and threads.is_empty()


@dataclass(frozen=True)
class _Stored:
    link: ThreadLink
    message_id: str
    conversation_id: str | None


def _stored_links(kb: KnowledgeBase) -> list[_Stored]:
    """Every stored message's link, grouped by conversation, its root or first message first."""
    state = ThreadState()
    by_conversation: dict[str | None, list[tuple[Message, ThreadLink]]] = {}
    for message in kb.iter_messages():
        # no subject fallback: stored membership says it instead (below)
        link = thread_link(state, message, subject_window=None)
        by_conversation.setdefault(message.conversation_id, []).append((message, link))
    found: list[_Stored] = []
    for conversation_id, members in by_conversation.items():
        members.sort(key=lambda pair: (pair[1].key != conversation_id, pair[0].created_at, pair[0].id))
        first = members[0][1].native_id
        for message, link in members:
            joins = conversation_id is not None and not link.chain and link.key != conversation_id
            found.append(
                _Stored(replace(link, follows=first if joins else None), message.id, conversation_id)
            )
    return found


def backfill_threads(kb: KnowledgeBase, threads: ThreadStore, keeper: ConversationKeeper) -> int:
    """Seed the thread tables from every message in ``kb``; returns how many messages moved."""
    stored = _stored_links(kb)
    links = [s.link for s in stored]
    log.info("seeding the thread tables from %d stored messages", len(links))
    for at in range(0, len(links), BACKFILL_BATCH):
        threads.assign(links[at : at + BACKFILL_BATCH])
    final: dict[str, str | None] = {}
    for at in range(0, len(links), BACKFILL_BATCH):  # a replay answers where each one is now
        final.update(threads.assign(links[at : at + BACKFILL_BATCH]).conversations)
    moving = {s.message_id: final[s.link.key] for s in stored if final[s.link.key] != s.conversation_id}
    ids = sorted(moving)
    for at in range(0, len(ids), BACKFILL_BATCH):
        found = kb.get_messages(ids[at : at + BACKFILL_BATCH])
        keeper.apply([m.model_copy(update={"conversation_id": moving[m.id]}) for m in found.values()])
    return len(moving)
