"""Replies and internal notes on a conversation.

``POST /conversations/{id}/replies`` (agents) writes one outbox row and answers 202: the
dispatcher sends it (``outbound.dispatcher``); its ``state`` is read back from
``GET /conversations/{id}/replies`` (and in ``GET /conversations/{id}``). With an
``Idempotency-Key`` header the same key from the same agent gives back the same reply (200,
``Idempotent-Replayed: true``) and never makes a second, however many requests race; the key
with a different request is a 409. A draft that breaks the channel's rules (X's 280 weighted
characters, a mail without a recipient...) or needs a placeholder without a value is a 422
before anything is stored. ``unknown`` replies (the dispatcher died mid-send and the platform
cannot say) wait for a person: ``.../retry`` queues it again (it may arrive twice), ``.../drop``
gives it up; ``failed`` ones can be retried too.

Notes (``POST /conversations/{id}/notes``) are stored and shown, never sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response
from pydantic import Field, model_validator

from api.deps import CRM_ROUTES, AgentDep, AuditDep, CRMDep, KBDep, SettingsDep, require_viewer
from api.drafts import answered_message, check_draft, placeholder_values, render_canned
from api.errors import error_responses
from api.fields import MAX_LABEL_CHARS, Id, Label, RequestBody
from crm.notes import NoteView
from crm.outbox import NewReply, ReplyView, request_digest
from hub.models import Attachment, Conversation, Identity, Reply
from kb.base import KnowledgeBase

__all__ = ["router"]

router = APIRouter(
    tags=["replies"],
    responses=error_responses(400, 404, 409, 503),
    dependencies=[Depends(require_viewer), *CRM_ROUTES],
)

#: the longest reply text taken (a long mail; every channel's own limit is checked after)
MAX_REPLY_CHARS = 100_000


class AttachmentIn(RequestBody):
    """An attachment's metadata; the content stays where ``url`` says."""

    name: Label | None = None
    content_type: Label = "application/octet-stream"
    size: int | None = Field(default=None, ge=0)
    url: str | None = Field(default=None, max_length=2048)


class ReplyRequest(RequestBody):
    """A reply: ``text``, or a canned response (rendered for the customer's language)."""

    text: str | None = Field(default=None, max_length=MAX_REPLY_CHARS)
    canned_response_id: Id | None = None
    #: the canned response's variant to use; default: the conversation's languages
    language: Annotated[str, Field(min_length=2, max_length=16)] | None = None
    #: the message answered (a message id of this conversation); default: the latest inbound one
    in_reply_to: Id | None = None
    #: True: a private message (DM), False: a public reply; default: the channel's usual way
    private: bool | None = None
    #: recipients (email addresses) instead of the answered message's sender
    to: list[Annotated[str, Field(max_length=320, pattern=r"^[^\s@]+@[^\s@]+$")]] | None = Field(
        default=None, max_length=50
    )
    subject: Label | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _text_or_canned(self) -> ReplyRequest:
        has_text = bool(self.text and self.text.strip())
        if has_text == (self.canned_response_id is not None):
            raise ValueError("give either text or canned_response_id")
        return self


class NoteRequest(RequestBody):
    text: str = Field(min_length=1, max_length=20_000)


def _conversation(kb: KnowledgeBase, conversation_id: str) -> Conversation:
    conversation = kb.get_conversation(conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    return conversation


def _recipients(channel: str, addresses: list[str] | None) -> list[Identity]:
    return [Identity(channel=channel, native_id=a.strip().lower(), email=a.strip()) for a in addresses or []]


@router.post("/conversations/{conversation_id}/replies", status_code=202)
def create_reply(
    conversation_id: str,
    body: ReplyRequest,
    response: Response,
    kb: KBDep,
    crm: CRMDep,
    settings: SettingsDep,
    caller: AgentDep,
    audit: AuditDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=MAX_LABEL_CHARS)] = None,
) -> ReplyView:
    """Queue a reply to the conversation (sent by the dispatcher; see the module doc)."""
    conversation = _conversation(kb, conversation_id)
    parent = answered_message(kb, conversation, body.in_reply_to)
    text = body.text or ""
    if body.canned_response_id is not None:
        values = placeholder_values(crm, parent, caller.agent.name, conversation)
        languages = [body.language] if body.language else [*conversation.languages, parent.language or ""]
        _, text = render_canned(crm, body.canned_response_id, values, languages)
    draft = Reply(
        id="draft",
        conversation_id=conversation.id,
        channel=conversation.channel,
        account=conversation.account,
        in_reply_to=parent,
        to=_recipients(conversation.channel, body.to),
        subject=body.subject,
        text=text,
        author=caller.agent.id,
        private=body.private,
        attachments=[Attachment(**a.model_dump()) for a in body.attachments],
    )
    check_draft(settings, draft)
    reply, created = crm.outbox.enqueue(
        NewReply(
            conversation_id=conversation.id,
            channel=draft.channel,
            account=draft.account,
            author_id=caller.agent.id,
            text=draft.text,
            in_reply_to=parent.id,
            private=draft.private,
            subject=draft.subject,
            recipients=draft.to,
            attachments=draft.attachments,
            canned_response_id=body.canned_response_id,
            idempotency_key=idempotency_key,
            request_digest=request_digest(
                {"conversation": conversation_id, "body": body.model_dump(mode="json")}
            )
            if idempotency_key is not None
            else None,
        )
    )
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
        return reply
    audit.record(
        "reply.create", "reply", reply.id, after={"conversation_id": conversation.id, "state": reply.state}
    )
    return reply


@router.get("/conversations/{conversation_id}/replies")
def list_replies(conversation_id: str, kb: KBDep, crm: CRMDep) -> list[ReplyView]:
    """The conversation's replies with their delivery state, oldest first."""
    _conversation(kb, conversation_id)
    return crm.outbox.for_conversation(conversation_id)


def _reply_of(crm: CRMDep, conversation_id: str, reply_id: str) -> ReplyView:
    reply = crm.outbox.get(reply_id)
    if reply is None or reply.conversation_id != conversation_id:
        raise HTTPException(status_code=404, detail=f"no reply {reply_id} in conversation {conversation_id}")
    return reply


@router.post("/conversations/{conversation_id}/replies/{reply_id}/retry")
def retry_reply(
    conversation_id: str, reply_id: str, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> ReplyView:
    """Queue a ``failed`` or ``unknown`` reply again (an ``unknown`` one may reach the customer
    twice: check the platform first); 409 in any other state."""
    before = _reply_of(crm, conversation_id, reply_id)
    after = crm.outbox.retry(reply_id, caller.agent.id)
    audit.record(
        "reply.retry", "reply", reply_id, before={"state": before.state}, after={"state": after.state}
    )
    return after


@router.post("/conversations/{conversation_id}/replies/{reply_id}/drop")
def drop_reply(
    conversation_id: str, reply_id: str, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> ReplyView:
    """Give up an ``unknown`` reply: ``failed``, never sent again; 409 in any other state."""
    before = _reply_of(crm, conversation_id, reply_id)
    after = crm.outbox.drop(reply_id, caller.agent.id)
    audit.record(
        "reply.drop", "reply", reply_id, before={"state": before.state}, after={"state": after.state}
    )
    return after


@router.post("/conversations/{conversation_id}/notes", status_code=201)
def create_note(
    conversation_id: str, body: NoteRequest, kb: KBDep, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> NoteView:
    """An internal note on the conversation: shown to the team, never sent."""
    _conversation(kb, conversation_id)
    note = crm.notes.add(conversation_id, caller.agent.id, body.text)
    audit.record("note.create", "note", note.id, after={"conversation_id": conversation_id})
    return note


@router.get("/conversations/{conversation_id}/notes")
def list_notes(conversation_id: str, kb: KBDep, crm: CRMDep) -> list[NoteView]:
    """The conversation's notes, oldest first."""
    _conversation(kb, conversation_id)
    return crm.notes.for_conversation(conversation_id)
