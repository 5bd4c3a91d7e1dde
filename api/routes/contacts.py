"""The /contacts resource: people across channels, their conversations, merges and splits.

The CRM store's errors are answered by the API's error edge (:mod:`api.errors`): a missing
contact is 404, a request that contradicts the current state (already merged) 409, one that
can never succeed (merging a contact into itself) 400, and a write that kept conflicting with
concurrent writers 503.

Viewers read. Changing a contact (``PATCH``), merging, unmerging and splitting need the agent
role: fixing who is who is part of answering people, every merge can be undone, and each is in
the audit log (``contact.update``, ``contact.merge``, ``contact.unmerge``, ``contact.split``)
and in the contact's history with the signed-in agent's id as its actor. An ``actor`` field
in a body is ignored: the actor is whoever is signed in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, field_validator, model_validator

from api.deps import CRM_ROUTES, MAX_CRM_OFFSET, AgentDep, AuditDep, CRMDep, KBDep, require_viewer
from api.errors import error_responses
from api.fields import Id, RequestBody, Tag
from crm import ContactView, MergeEventView, NotFound
from crm.attributes import MAX_ATTRIBUTES_BYTES, MAX_ATTRIBUTES_DEPTH, attributes_problem
from hub.models import Conversation
from kb.base import SearchFilters, SearchRequest

__all__ = ["ContactPage", "router"]

router = APIRouter(
    tags=["contacts"],
    responses=error_responses(400, 404, 409, 413, 503),
    dependencies=[Depends(require_viewer), *CRM_ROUTES],
)


class ContactPage(BaseModel):
    total: int
    items: list[ContactView]


class ContactDetail(BaseModel):
    """A contact with the conversations its identities took part in, newest first."""

    contact: ContactView
    conversations: list[Conversation]
    conversations_total: int


class ContactUpdate(RequestBody):
    """Fields left out stay as they are; an attribute set to null is removed."""

    display_name: str | None = Field(default=None, max_length=512)
    tags: list[Tag] | None = Field(default=None, max_length=100)
    attributes: dict[str, Any] | None = Field(
        default=None,
        description=f"JSON nested at most {MAX_ATTRIBUTES_DEPTH} levels, at most "
        f"{MAX_ATTRIBUTES_BYTES} bytes per contact once merged with the stored attributes",
    )

    @field_validator("attributes")
    @classmethod
    def _storable_attributes(cls, attributes: dict[str, Any] | None) -> dict[str, Any] | None:
        # Refused here, before the store is touched: a document the store could not read back
        # would break every later read of the contact.
        if attributes is not None and (problem := attributes_problem(attributes)) is not None:
            raise ValueError(problem)
        return attributes

    @model_validator(mode="after")
    def _changes_something(self) -> ContactUpdate:
        # A validation error of the body, so the 422 has the documented list shape.
        if not self.model_fields_set:
            raise ValueError("nothing to change: send display_name, tags or attributes")
        return self


class MergeRequest(RequestBody):
    other_id: Id = Field(description="the contact merged into this one")
    reason: str | None = Field(default=None, max_length=1000)


class UnmergeRequest(RequestBody):
    event_id: Id | None = Field(default=None, description="the merge to undo; the latest when left out")


class SplitRequest(RequestBody):
    identity_ids: list[Id] = Field(min_length=1, max_length=1000)
    reason: str | None = Field(default=None, max_length=1000)


class MergeResult(BaseModel):
    """The event and both contacts as they are afterwards."""

    event: MergeEventView
    survivor: ContactView
    other: ContactView


def _require(crm: CRMDep, contact_id: str) -> ContactView:
    contact = crm.get_contact(contact_id)
    if contact is None:
        raise HTTPException(status_code=404, detail=f"no contact {contact_id}")
    return contact


def _result(crm: CRMDep, event: MergeEventView) -> MergeResult:
    return MergeResult(
        event=event, survivor=_require(crm, event.survivor_id), other=_require(crm, event.absorbed_id)
    )


@router.get("/contacts")
def list_contacts(
    crm: CRMDep,
    q: str | None = Query(default=None, max_length=500, description="name, handle, email or phone"),
    limit: int = Query(default=25, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_CRM_OFFSET),
) -> ContactPage:
    """Contacts, most recently active first; ``q`` searches names, handles, emails and phones."""
    total, items = crm.search_contacts(q, limit=limit, offset=offset)
    return ContactPage(total=total, items=items)


@router.get("/contacts/{contact_id}")
def get_contact(
    contact_id: str,
    crm: CRMDep,
    kb: KBDep,
    conversations_limit: int = Query(default=50, ge=0, le=500),
) -> ContactDetail:
    """One contact with all identities and the conversations they took part in."""
    contact = _require(crm, contact_id)
    identity_ids = [identity.id for identity in contact.identities]
    if not identity_ids or conversations_limit == 0:
        return ContactDetail(contact=contact, conversations=[], conversations_total=0)
    result = kb.search_conversations(
        SearchRequest(
            filters=SearchFilters(author_ids=identity_ids),
            limit=conversations_limit,
            sort="newest",
            highlight=False,
        )
    )
    return ContactDetail(
        contact=contact, conversations=[hit.document for hit in result.hits], conversations_total=result.total
    )


@router.patch("/contacts/{contact_id}")
def update_contact(
    contact_id: str, update: ContactUpdate, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> ContactView:
    """Set a display name, replace the tags, or merge in custom attributes."""
    changes = update.model_dump(exclude_unset=True)
    before = _require(crm, contact_id)
    after = crm.update_contact(
        contact_id,
        display_name=update.display_name,
        tags=update.tags,
        attributes=update.attributes,
    )
    audit.record(
        "contact.update",
        "contact",
        contact_id,
        before={name: getattr(before, name) for name in changes},
        after={name: getattr(after, name) for name in changes},
    )
    return after


@router.post("/contacts/{contact_id}/merge")
def merge_contact(
    contact_id: str, body: MergeRequest, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> MergeResult:
    """Merge ``other_id`` into this contact (recorded; undo with ``/unmerge``)."""
    event = crm.merge(contact_id, body.other_id, actor=caller.agent.id, reason=body.reason)
    audit.record(
        "contact.merge",
        "contact",
        contact_id,
        after={"absorbed_id": body.other_id, "event_id": event.id, "reason": event.reason},
    )
    return _result(crm, event)


@router.post("/contacts/{contact_id}/unmerge")
def unmerge_contact(
    contact_id: str, crm: CRMDep, caller: AgentDep, audit: AuditDep, body: UnmergeRequest | None = None
) -> MergeResult:
    """Undo this contact's latest merge (or ``event_id``), restoring both contacts as they were."""
    body = body or UnmergeRequest()
    if crm.get_contact(contact_id) is None:
        raise NotFound(f"no contact {contact_id}")
    event = crm.unmerge(contact_id, event_id=body.event_id, actor=caller.agent.id)
    audit.record(
        "contact.unmerge",
        "contact",
        contact_id,
        after={"restored_id": event.absorbed_id, "event_id": event.id, "undid": body.event_id or "latest"},
    )
    return _result(crm, event)


@router.post("/contacts/{contact_id}/split")
def split_contact(
    contact_id: str, body: SplitRequest, crm: CRMDep, caller: AgentDep, audit: AuditDep
) -> MergeResult:
    """Move some identities out of this contact into a new one (``other`` in the result)."""
    event = crm.split(contact_id, body.identity_ids, actor=caller.agent.id, reason=body.reason or "")
    audit.record(
        "contact.split",
        "contact",
        contact_id,
        after={"new_contact_id": event.absorbed_id, "identity_ids": body.identity_ids, "event_id": event.id},
    )
    return _result(crm, event)


@router.get("/contacts/{contact_id}/history")
def contact_history(contact_id: str, crm: CRMDep) -> list[MergeEventView]:
    """The audit trail: every merge, unmerge and split this contact took part in, oldest first."""
    _require(crm, contact_id)
    return crm.history(contact_id)
