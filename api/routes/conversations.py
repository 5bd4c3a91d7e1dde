"""The inbox: list, open and triage conversations."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from api.deps import MAX_KB_OFFSET, Instant, KBDep, split_multi
from api.errors import error_responses
from api.fields import Label, RequestBody, Tag
from hub.models import Conversation, ConversationStatus, Message, Priority
from kb.base import SearchFilters, SearchRequest

router = APIRouter(tags=["conversations"], responses=error_responses(400, 404, 413, 503))


class ConversationPage(BaseModel):
    total: int
    items: list[Conversation]
    next_cursor: str | None = None


class ConversationDetail(BaseModel):
    conversation: Conversation
    messages: list[Message]


#: triage fields that always have a value; assignee and queue may be cleared with null
_NOT_NULLABLE = ("status", "priority", "tags")


class ConversationUpdate(RequestBody):
    """Triage changes; fields left out stay as they are."""

    status: ConversationStatus | None = None
    assignee: Label | None = None
    queue: Label | None = None
    priority: Priority | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _changes_something(self) -> ConversationUpdate:
        # Validation errors of the body, so the 422 has the documented list shape.
        cleared = [
            name for name in _NOT_NULLABLE if name in self.model_fields_set and getattr(self, name) is None
        ]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null (assignee and queue can, to clear them)")
        if not self.model_fields_set:
            raise ValueError("nothing to change: send status, assignee, queue, priority or tags")
        return self


@router.get("/conversations")
def list_conversations(
    kb: KBDep,
    q: str = Query(default="", description='listening query, e.g. refund "money back" -spam'),
    channel: list[str] | None = Query(default=None),
    status: list[str] | None = Query(default=None),
    assignee: list[str] | None = Query(default=None),
    queue: list[str] | None = Query(default=None),
    tag: list[str] | None = Query(default=None),
    since: Instant | None = None,
    until: Instant | None = None,
    sort: str = Query(default="newest", pattern="^(relevance|newest|oldest)$"),
    limit: int = Query(default=25, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_KB_OFFSET, description="deeper pages follow next_cursor"),
    cursor: str | None = None,
) -> ConversationPage:
    """Conversations, newest activity first; ``q`` keeps those with a matching message."""
    request = SearchRequest(
        query=q,
        filters=SearchFilters(
            channels=split_multi(channel),
            statuses=split_multi(status),
            assignees=split_multi(assignee),
            queues=split_multi(queue),
            tags=split_multi(tag),
            since=since,
            until=until,
        ),
        limit=limit,
        offset=offset,
        cursor=cursor,
        sort=sort,  # type: ignore[arg-type]
        highlight=False,
    )
    result = kb.search_conversations(request)
    return ConversationPage(
        total=result.total, items=[hit.document for hit in result.hits], next_cursor=result.next_cursor
    )


@router.get("/conversations/{conversation_id}")
def get_conversation(conversation_id: str, kb: KBDep) -> ConversationDetail:
    """One conversation with its messages, oldest first."""
    conversation = kb.get_conversation(conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    return ConversationDetail(conversation=conversation, messages=kb.conversation_messages(conversation_id))


@router.patch("/conversations/{conversation_id}")
def update_conversation(conversation_id: str, update: ConversationUpdate, kb: KBDep) -> Conversation:
    """Change status, assignee, queue, priority or tags."""
    conversation = kb.update_conversation(conversation_id, update.model_dump(exclude_unset=True))
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    return conversation
