"""Canned responses: agents read and use them, supervisors and admins write them.

A canned response has a name, a unique ``shortcut`` (409 when taken) and per-language
``variants`` (language code or ``default`` -> template with placeholders such as
``{{contact.first_name}}``, ``{{agent.name}}``, ``{{conversation.id}}``; a template that does
not parse or names an unknown scope is a 400). ``POST .../preview`` renders one for a
conversation as a reply would (422 naming a placeholder without a value).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, StringConstraints

from api.deps import CRM_ROUTES, AgentDep, AuditDep, CRMDep, KBDep, SupervisorDep, require_agent
from api.drafts import answered_message, placeholder_values, render_canned
from api.errors import error_responses
from api.fields import Id, RequestBody
from crm.canned import CannedResponse

__all__ = ["router"]

router = APIRouter(
    tags=["canned responses"],
    responses=error_responses(400, 404, 409, 503),
    dependencies=[Depends(require_agent), *CRM_ROUTES],
)

Shortcut = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Language = Annotated[str, StringConstraints(pattern=r"^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?|default)$")]
Variants = Annotated[
    dict[Language, Annotated[str, Field(min_length=1, max_length=20_000)]], Field(min_length=1, max_length=50)
]


class CannedCreate(RequestBody):
    name: str = Field(min_length=1, max_length=256)
    shortcut: Shortcut
    variants: Variants


class CannedUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    shortcut: Shortcut | None = None
    variants: Variants | None = None


class PreviewRequest(RequestBody):
    conversation_id: Id
    language: Language | None = None


class Preview(BaseModel):
    language: str
    text: str


@router.get("/canned-responses")
def list_canned(
    crm: CRMDep,
    q: str | None = Query(default=None, max_length=256, description="in the shortcut or name"),
    language: str | None = Query(default=None, max_length=16, description="with a variant in it"),
) -> list[CannedResponse]:
    """Canned responses by shortcut."""
    return crm.canned.list(q, language)


@router.post("/canned-responses", status_code=201)
def create_canned(body: CannedCreate, crm: CRMDep, caller: SupervisorDep, audit: AuditDep) -> CannedResponse:
    canned = crm.canned.create(body.name, body.shortcut, body.variants, caller.agent.id)
    audit.record("canned.create", "canned_response", canned.id, after=canned)
    return canned


@router.get("/canned-responses/{canned_id}")
def get_canned(canned_id: str, crm: CRMDep) -> CannedResponse:
    canned = crm.canned.get(canned_id)
    if canned is None:
        raise HTTPException(status_code=404, detail=f"no canned response {canned_id}")
    return canned


@router.patch("/canned-responses/{canned_id}")
def update_canned(
    canned_id: str, body: CannedUpdate, crm: CRMDep, _: SupervisorDep, audit: AuditDep
) -> CannedResponse:
    before, after = crm.canned.update(
        canned_id, name=body.name, shortcut=body.shortcut, variants=body.variants
    )
    audit.record("canned.update", "canned_response", canned_id, before=before, after=after)
    return after


@router.delete("/canned-responses/{canned_id}", status_code=204)
def delete_canned(canned_id: str, crm: CRMDep, _: SupervisorDep, audit: AuditDep) -> None:
    gone = crm.canned.delete(canned_id)
    audit.record("canned.delete", "canned_response", canned_id, before=gone)


@router.post("/canned-responses/{canned_id}/preview")
def preview_canned(canned_id: str, body: PreviewRequest, crm: CRMDep, kb: KBDep, caller: AgentDep) -> Preview:
    """The text a reply with this canned response would have in the conversation."""
    conversation = kb.get_conversation(body.conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"no conversation {body.conversation_id}")
    if crm.canned.get(canned_id) is None:
        raise HTTPException(status_code=404, detail=f"no canned response {canned_id}")
    parent = answered_message(kb, conversation, None)
    values = placeholder_values(crm, parent, caller.agent.name, conversation)
    languages = [body.language] if body.language else [*conversation.languages, parent.language or ""]
    language, text = render_canned(crm, canned_id, values, languages)
    return Preview(language=language, text=text)
