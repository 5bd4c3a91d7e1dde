"""From a reply request to a draft the outbox may take: the answered message, the canned
response rendered, the channel's rules checked.

Everything here runs before the outbox row is written, so a reply that breaks a rule is a 422
in the documented list shape (``{"loc": ["body", <field>], "msg": ..., "type": ...}``) and
never a failed row. The channel's rules are its own (``Channel.check_reply``, pure); whether
the account can send at all is its replier factory's answer (no network).
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError

from channels import CHANNELS
from crm.canned import MissingPlaceholder, pick_variant, render
from crm.errors import InvalidRequest
from crm.store import CRMStore
from hub.errors import FatalError, SkippableError
from hub.models import Conversation, Direction, Message, Reply
from hub.settings import Settings
from kb.base import KnowledgeBase

__all__ = ["answered_message", "check_draft", "placeholder_values", "render_canned"]


def _unprocessable(items: list[tuple[str, str, str]]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", loc), "msg": msg, "type": kind} for loc, msg, kind in items]
    )


def answered_message(kb: KnowledgeBase, conversation: Conversation, in_reply_to: str | None) -> Message:
    """The message a reply answers: ``in_reply_to`` (a message of this conversation), else the
    conversation's latest inbound message, else its latest message."""
    if in_reply_to is not None:
        found = kb.get_message(in_reply_to)
        if found is None or found.conversation_id != conversation.id:
            raise _unprocessable(
                [("in_reply_to", f"no message {in_reply_to} in this conversation", "value_error")]
            )
        return found
    messages = kb.conversation_messages(conversation.id)
    inbound = [m for m in messages if m.direction is Direction.IN]
    candidates = inbound or messages
    if not candidates:
        raise _unprocessable([("in_reply_to", "this conversation has no message to answer", "value_error")])
    return candidates[-1]


def placeholder_values(
    crm: CRMStore, parent: Message, agent_name: str, conversation: Conversation
) -> dict[str, dict[str, Any]]:
    """The placeholder scopes of a canned response answering ``parent``: the customer's
    contact (name, first name, email), the agent, the conversation."""
    contact: dict[str, Any] = {}
    author = parent.author if parent.direction is Direction.IN else None
    if author is not None:
        contact_id = crm.contact_for_identity(author.id)
        view = crm.get_contact(contact_id) if contact_id else None
        name = (view.display_name if view else None) or author.display_name
        contact = {
            "id": contact_id,
            "name": name,
            "first_name": name.split()[0] if name and name.split() else None,
            "email": author.email,
            "handle": author.handle,
        }
    return {
        "contact": contact,
        "agent": {"name": agent_name, "first_name": agent_name.split()[0] if agent_name.split() else None},
        "conversation": {
            "id": conversation.id,
            "subject": conversation.subject,
            "channel": conversation.channel,
        },
    }


def render_canned(
    crm: CRMStore, canned_id: str, values: dict[str, dict[str, Any]], languages: list[str]
) -> tuple[str, str]:
    """(language, text) of canned response ``canned_id`` for ``languages``; 422 naming a
    placeholder without a value, or an unknown canned response."""
    canned = crm.canned.get(canned_id)
    if canned is None:
        raise _unprocessable([("canned_response_id", f"no canned response {canned_id}", "value_error")])
    language, template = pick_variant(canned.variants, languages)
    try:
        return language, render(template, values)
    except MissingPlaceholder as exc:
        raise _unprocessable([("canned_response_id", str(exc), "missing_placeholder")]) from exc
    except InvalidRequest as exc:
        raise _unprocessable([("canned_response_id", str(exc), "value_error")]) from exc


def check_draft(settings: Settings, draft: Reply) -> None:
    """422 unless ``draft`` can be queued: the channel sends replies, from this account, and
    the draft keeps the channel's rules."""
    descriptor = CHANNELS.get(draft.channel)
    if descriptor is None or descriptor.replier is None:
        raise _unprocessable(
            [("conversation", f"replies cannot be sent on {draft.channel!r} here", "channel_rule")]
        )
    try:
        descriptor.replier(settings, draft.account)
    except (SkippableError, FatalError) as exc:
        raise _unprocessable(
            [("conversation", f"cannot reply from this account: {exc}", "channel_rule")]
        ) from exc
    problems = descriptor.check_reply(draft) if descriptor.check_reply is not None else []
    if problems:
        raise _unprocessable([(p.field, p.message, "channel_rule") for p in problems])
