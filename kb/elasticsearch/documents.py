"""The documents ``ElasticsearchKB`` indexes: a message or conversation as its index maps it.

A message carries a denormalised copy of its conversation's triage state (``conv_*``, see
:func:`conversation_state`) so conversation fields work inside one message query. Every
document keeps its full pydantic JSON under ``doc`` (not indexed), which is what reads return.
Searchable text is sent analysed in the document's language (``kb.languages``), the same
tokens the embedded backend indexes, with the analysis in ``analysis``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.models import Conversation, Message
from kb.analysis import MULTI_VALUED_FIELDS, author_text, conversation_field_values, message_field_values
from kb.languages import analyse, analysis_for
from kb.search_rules import conversation_analysis

__all__ = ["conversation_source", "conversation_state", "message_source"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def conversation_state(conversation: Conversation | None) -> dict[str, Any]:
    """The triage state a message carries of its conversation (all empty for None)."""
    if conversation is None:
        return {"status": None, "assignee": None, "assignee_f": None, "queue": None, "tag": []}
    values = conversation_field_values(conversation)
    return {
        "status": str(conversation.status),
        "assignee": conversation.assignee,
        "assignee_f": values["assignee"][0] if values["assignee"] else None,
        "queue": conversation.queue,
        "tag": values["tag"],
    }


def analysed(text: str | None, analysis: str) -> str:
    """``text`` as the text fields index it: its analysed tokens, space-separated."""
    return " ".join(analyse(text or "", analysis))


def message_source(message: Message, conversation: Conversation | None) -> dict[str, Any]:
    """The indexed form of a message (with its conversation's triage state)."""
    fields = message_field_values(message)
    state = conversation_state(conversation)
    analysis = analysis_for(fields["lang"][0])
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "channel": message.channel.lower(),
        "account": message.account,
        "direction": str(message.direction),
        "author_id": message.author.id if message.author else None,
        "language": fields["lang"][0],
        "sentiment_label": message.enrichment.sentiment_label,
        "sentiment": message.enrichment.sentiment,
        "intent": fields["intent"][0] if fields["intent"] else None,
        "labels": message.flags,
        "created_at": message.created_at.isoformat(),
        "analysis": analysis,
        "text": analysed(message.text, analysis),
        "subject": analysed(message.subject, analysis) if message.subject else None,
        "author": analysed(author_text(message), analysis),
        **{f"f_{name}": fields[name] for name in MULTI_VALUED_FIELDS},
        "conv_status": state["status"],
        "conv_assignee": state["assignee"],
        "conv_assignee_f": state["assignee_f"],
        "conv_queue": state["queue"],
        "conv_tag": state["tag"],
        "doc": message.model_dump(mode="json"),
    }


def conversation_source(conversation: Conversation) -> dict[str, Any]:
    """The indexed form of a conversation."""
    values = conversation_field_values(conversation)
    return {
        "id": conversation.id,
        "channel": conversation.channel.lower(),
        "account": conversation.account,
        "status": str(conversation.status),
        "assignee": conversation.assignee,
        "f_assignee": values["assignee"],
        "queue": conversation.queue,
        "priority": str(conversation.priority),
        "tags": conversation.tags,
        "f_tag": values["tag"],
        "languages": [lang.lower() for lang in conversation.languages],
        "analysis": conversation_analysis(conversation),
        "subject": analysed(conversation.subject, conversation_analysis(conversation))
        if conversation.subject
        else None,
        "first_message_at": _iso(conversation.first_message_at),
        "last_message_at": _iso(conversation.last_message_at),
        "message_count": conversation.message_count,
        "doc": conversation.model_dump(mode="json"),
    }
