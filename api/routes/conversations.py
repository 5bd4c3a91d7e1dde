"""The inbox: list, open and triage conversations, and their life cycle.

Viewers read. Triage (status, priority, tags) needs the agent role, as does taking an
unassigned conversation oneself or releasing one's own; routing (``queue``) and assigning
anyone else, or taking a conversation from someone else, need supervisor. Every change is in
the audit log as ``conversation.update`` (``conversation.status`` for the life cycle), with the
fields before and after.

Triage state is decided in the relational store's routing table (``crm.routing``: its events
appended in the same transaction) and written to the knowledge-base document after; resolving
or unassigning a conversation lets the conversations waiting for an agent be assigned.
Life cycle: ``open`` → ``pending`` (waiting on the customer) → ``resolved``, or ``snoozed``
until a time (``POST /conversations/{id}/status``); a customer writing again, or the snooze
ending, reopens it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field, model_validator

from api.deps import (
    MAX_KB_OFFSET,
    AgentDep,
    AuditDep,
    CRMDep,
    Instant,
    KBDep,
    SupervisorDep,
    require_viewer,
    split_multi,
)
from api.errors import error_responses
from api.fields import Label, RequestBody, Tag
from api.responses import model_json
from api.triage import ensure_routed
from crm import Role, role_at_least
from crm.notes import NoteView
from crm.outbox import ReplyView
from crm.sla import SlaView
from crm.store import CRMStore
from hub.models import Conversation, ConversationStatus, Message, Priority
from kb.base import SearchFilters, SearchRequest
from kb.conversations import project_triage

router = APIRouter(
    tags=["conversations"],
    responses=error_responses(400, 404, 413, 503),
    dependencies=[Depends(require_viewer)],
)


class InboxConversation(Conversation):
    """A conversation with its SLA clock (``null`` until the SLA tracker has seen it)."""

    sla: SlaView | None = None


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
    items: list[InboxConversation]
    next_cursor: str | None = None


class ConversationDetail(BaseModel):
    conversation: InboxConversation
    messages: list[Message]
    #: the agents' replies with their delivery state (sent ones are among ``messages`` too)
    replies: list[ReplyView] = []
    #: internal notes, never sent
    notes: list[NoteView] = []


def with_sla(crm: CRMStore, conversations: list[Conversation]) -> list[InboxConversation]:
    """``conversations`` with their SLA clocks, read in one query for the page."""
    clocks = crm.sla.views([c.id for c in conversations])
    # both parts are validated models already (read from the stores): no second validation
    return [InboxConversation.model_construct(**c.__dict__, sla=clocks.get(c.id)) for c in conversations]


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


@router.get("/conversations", response_model=ConversationPage)
def list_conversations(
    kb: KBDep,
    crm: CRMDep,
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
) -> Response:
    """Conversations, newest activity first; ``q`` keeps those with a matching message. Each
    carries its SLA due times (``sla``)."""
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
    page = ConversationPage(
        total=result.total,
        total_relation=result.total_relation,
        relevance_window=result.relevance_window,
        items=with_sla(crm, [hit.document for hit in result.hits]),
        next_cursor=result.next_cursor,
    )
    return model_json(page)  # built from validated parts: no second validation


@router.get("/conversations/{conversation_id}")
def get_conversation(conversation_id: str, kb: KBDep, crm: CRMDep) -> ConversationDetail:
    """One conversation with its SLA due times, its messages, its replies' delivery state and
    its notes, oldest first."""
    conversation = kb.get_conversation(conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    [detailed] = with_sla(crm, [conversation])
    return ConversationDetail(
        conversation=detailed,
        messages=kb.conversation_messages(conversation_id),
        replies=crm.outbox.for_conversation(conversation_id),
        notes=crm.notes.for_conversation(conversation_id),
    )


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


def _require(kb: KBDep, conversation_id: str) -> Conversation:
    conversation = kb.get_conversation(conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    return conversation


@router.patch("/conversations/{conversation_id}")
def update_conversation(
    conversation_id: str,
    update: ConversationUpdate,
    kb: KBDep,
    crm: CRMDep,
    caller: AgentDep,
    audit: AuditDep,
) -> Conversation:
    """Change status, assignee, queue, priority or tags (a snooze: ``POST .../status``)."""
    changes = update.model_dump(exclude_unset=True)
    current = _require(kb, conversation_id)
    needed = role_for_triage(changes, current.assignee, caller.agent.id)
    if not role_at_least(caller.agent.role, needed):
        raise HTTPException(
            status_code=403, detail=f"routing or reassigning needs the {needed} role or higher"
        )
    ensure_routed(crm, current)
    project_triage(kb, crm.routing.update(conversation_id, changes, actor_id=caller.agent.id))
    conversation = _require(kb, conversation_id)
    audit.record(
        "conversation.update",
        "conversation",
        conversation_id,
        before={field: getattr(current, field) for field in changes},
        after={field: getattr(conversation, field) for field in changes},
    )
    return conversation


class StatusChange(RequestBody):
    """A step of the life cycle; ``snoozed_until`` goes with ``snoozed`` (and only with it)."""

    status: ConversationStatus
    snoozed_until: Instant | None = Field(default=None, description="when a snoozed conversation reopens")

    @model_validator(mode="after")
    def _until_with_snooze(self) -> StatusChange:
        if (self.status == ConversationStatus.SNOOZED) != (self.snoozed_until is not None):
            raise ValueError("snoozed_until goes with status snoozed, and only with it")
        return self


@router.post("/conversations/{conversation_id}/status")
def change_status(
    conversation_id: str, body: StatusChange, kb: KBDep, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> Conversation:
    """Open, set pending, resolve or snooze a conversation until a time (in the future)."""
    current = _require(kb, conversation_id)
    ensure_routed(crm, current)
    before = crm.routing.get(conversation_id)
    states = crm.routing.set_status(
        conversation_id, str(body.status), snoozed_until=body.snoozed_until, actor_id=caller.agent.id
    )
    project_triage(kb, states)
    audit.record(
        "conversation.status",
        "conversation",
        conversation_id,
        before={
            "status": before.status if before else None,
            "snoozed_until": before.snoozed_until if before else None,
        },
        after={"status": str(body.status), "snoozed_until": body.snoozed_until},
    )
    return _require(kb, conversation_id)


class WaitingConversation(BaseModel):
    conversation_id: str
    channel: str
    account: str
    language: str | None
    queue: str | None
    priority: str
    status: str


@router.get("/routing/waiting")
def waiting_conversations(
    crm: CRMDep, _: SupervisorDep, limit: int = Query(default=100, ge=1, le=1000)
) -> list[WaitingConversation]:
    """Conversations a rule wanted assigned and nobody fitted yet, oldest first: they are
    assigned as agents come online or free up."""
    return [
        WaitingConversation(
            conversation_id=s.conversation_id,
            channel=s.channel,
            account=s.account,
            language=s.language,
            queue=s.queue,
            priority=s.priority,
            status=s.status,
        )
        for s in crm.routing.waiting(limit)
    ]
