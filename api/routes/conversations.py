"""The inbox: list, open and triage conversations.

Viewers read. Triage (status, priority, tags) needs the agent role, as does taking an
unassigned conversation oneself or releasing one's own; routing (``queue``) and assigning
anyone else, or taking a conversation from someone else, need supervisor. Every change is in
the audit log as ``conversation.update``, with the fields before and after.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from api.deps import MAX_KB_OFFSET, AgentDep, AuditDep, Instant, KBDep, require_viewer, split_multi
from api.errors import error_responses
from api.fields import Label, RequestBody, Tag
from crm import Role, role_at_least
from hub.models import Conversation, ConversationStatus, Message, Priority
from kb.base import SearchFilters, SearchRequest

router = APIRouter(
    tags=["conversations"],
    responses=error_responses(400, 404, 413, 503),
    dependencies=[Depends(require_viewer)],
)


#: conversations a list counts exactly; past this the total is a lower bound ("gte"). Lower
#: than /search's: counting a conversation means finding one of its messages
TOTAL_LIMIT = 1_000


class ConversationPage(BaseModel):
    #: conversations, counted exactly up to 1,000; past that a lower bound (see total_relation)
    total: int
    #: "eq": total is exact; "gte": at least total conversations match (counting stopped there)
    total_relation: Literal["eq", "gte"] = "eq"
    #: set when so many messages matched ``q`` that relevance ranked the conversations of only
    #: this many, the most recently indexed; sort=newest or oldest reaches every match
    relevance_window: int | None = None
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
    assignee: Label | None = Field(default=None, description="an agent id; null to unassign")
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
        total_limit=TOTAL_LIMIT,
    )
    result = kb.search_conversations(request)
    return ConversationPage(
        total=result.total,
        total_relation=result.total_relation,
        relevance_window=result.relevance_window,
        items=[hit.document for hit in result.hits],
        next_cursor=result.next_cursor,
    )


@router.get("/conversations/{conversation_id}")
def get_conversation(conversation_id: str, kb: KBDep) -> ConversationDetail:
    """One conversation with its messages, oldest first."""
    conversation = kb.get_conversation(conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    return ConversationDetail(conversation=conversation, messages=kb.conversation_messages(conversation_id))


def role_for_triage(changes: dict[str, Any], assignee: str | None, agent_id: str) -> Role:
    """The role ``changes`` to a conversation assigned to ``assignee`` need from ``agent_id``."""
    if "queue" in changes:
        return "supervisor"
    if "assignee" in changes and changes["assignee"] != assignee:
        takes_free_one = assignee is None and changes["assignee"] == agent_id
        releases_own = assignee == agent_id and changes["assignee"] is None
        if not (takes_free_one or releases_own):
            return "supervisor"
    return "agent"


@router.patch("/conversations/{conversation_id}")
def update_conversation(
    conversation_id: str, update: ConversationUpdate, kb: KBDep, caller: AgentDep, audit: AuditDep
) -> Conversation:
    """Change status, assignee, queue, priority or tags."""
    changes = update.model_dump(exclude_unset=True)
    current = kb.get_conversation(conversation_id)
    if current is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    needed = role_for_triage(changes, current.assignee, caller.agent.id)
    if not role_at_least(caller.agent.role, needed):
        raise HTTPException(
            status_code=403, detail=f"routing or reassigning needs the {needed} role or higher"
        )
    conversation = kb.update_conversation(conversation_id, changes)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    audit.record(
        "conversation.update",
        "conversation",
        conversation_id,
        before={field: getattr(current, field) for field in changes},
        after={field: getattr(conversation, field) for field in changes},
    )
    return conversation
