"""Conversation rollups: counts, times, participants, languages and sentiment from messages.

``roll_up`` recomputes every derived field from the conversation's stored messages, so it is
idempotent: replaying a batch (at-least-once delivery) yields the same rollup. Triage state
(status, assignee, queue, priority, tags) belongs to people and rules; the knowledge base
keeps it when it merges a rollup in, reopening a resolved or pending conversation when a new
inbound message arrives, as a customer replying expects.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.models import Conversation, Direction, Message

__all__ = ["roll_up"]

SNIPPET_CHARS = 200


def _subject(messages: Sequence[Message]) -> str | None:
    for message in messages:
        if message.subject:
            return message.subject
    first_line = messages[0].text.strip().splitlines()[0] if messages[0].text.strip() else ""
    return first_line[:80] or None


def roll_up(conversation_id: str, messages: Sequence[Message]) -> Conversation:
    """The derived fields of a conversation from all its messages (triage state at defaults).

    The knowledge base merges these into the stored document (``KnowledgeBase.save_rollups``),
    keeping what people set and reopening on new inbound messages.
    """
    ordered = sorted(messages, key=lambda m: (m.created_at, m.id))
    if not ordered:
        raise ValueError(f"conversation {conversation_id} has no messages to roll up")
    inbound = [m for m in ordered if m.direction == Direction.IN]
    participants: list[str] = []
    languages: list[str] = []
    for message in ordered:
        if message.author is not None and message.author.id not in participants:
            participants.append(message.author.id)
        if message.language and message.language != "und" and message.language not in languages:
            languages.append(message.language)
    scored = [m.enrichment.sentiment for m in inbound if m.enrichment.done] or [0.0]
    latest = ordered[-1]
    snippet_source = inbound[-1] if inbound else latest
    return Conversation(
        id=conversation_id,
        channel=latest.channel,
        account=latest.account,
        subject=_subject(ordered),
        snippet=" ".join(snippet_source.text.split())[:SNIPPET_CHARS],
        participants=participants,
        first_message_at=ordered[0].created_at,
        last_message_at=latest.created_at,
        last_inbound_at=inbound[-1].created_at if inbound else None,
        message_count=len(ordered),
        inbound_count=len(inbound),
        sentiment_avg=round(sum(scored) / len(scored), 4),
        sentiment_min=min(scored),
        sentiment_last=scored[-1],
        languages=languages,
    )
