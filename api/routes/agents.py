"""The /agents resource: the people who work the inbox. Supervisors read; admins change.

Agents are never deleted: ``DELETE /agents/{id}`` disables one, which revokes their tokens,
sessions and sign-in links at once (``PATCH`` with ``"disabled": false`` enables them again,
with no old credential). The last enabled admin cannot be demoted or disabled (409). A new
agent comes with a one-time sign-in link (24 h) to hand over; ``POST
/agents/{id}/sign-in-link`` makes another.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CRM_ROUTES, AdminDep, AuditDep, CRMDep, KBDep, SettingsDep, require_supervisor
from api.errors import error_responses, unprocessable
from api.fields import RequestBody
from api.hosts import public_url
from api.triage import assign_waiting, release_agent
from crm import AgentView, Availability, NotFound, Role
from crm.agents import DEFAULT_CAPACITY
from crm.store import CRMStore
from hub.settings import Settings

__all__ = ["SignInLink", "router", "sign_in_url"]

router = APIRouter(
    tags=["agents"],
    responses=error_responses(400, 404, 409, 503),
    dependencies=[Depends(require_supervisor), *CRM_ROUTES],
)


#: a language code or channel name (conversations name channels without a descriptor too:
#: twitter, sms, forums... arrive as parley.message envelopes)
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class AgentCreate(RequestBody):
    name: str = Field(min_length=1, max_length=256)
    email: str = Field(min_length=3, max_length=320)
    role: Role = "agent"
    languages: list[Code] = Field(default_factory=list, max_length=50, description="ISO 639-1 codes")
    channels: list[Code] = Field(default_factory=list, max_length=50, description="email, twitter, sms...")
    capacity: int = Field(default=DEFAULT_CAPACITY, ge=0, le=10_000, description="open conversations at once")
    availability: Availability = "offline"


class AgentUpdate(RequestBody):
    """Fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=256)
    role: Role | None = None
    languages: list[Code] | None = Field(default=None, max_length=50)
    channels: list[Code] | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    availability: Availability | None = None
    disabled: bool | None = None


class SignInLink(BaseModel):
    """A one-time sign-in link: opening it signs the agent in (once, before ``expires_at``)."""

    url: str
    expires_at: datetime


class CreatedAgent(BaseModel):
    agent: AgentView
    sign_in: SignInLink


def sign_in_url(base: str, token: str) -> str:
    """The link that redeems sign-in ``token`` on the hub at ``base``."""
    return f"{base.rstrip('/')}/auth/one-time/{token}"


def _link(crm: CRMStore, settings: Settings, request: Request, agent_id: str) -> SignInLink:
    ttl = timedelta(hours=settings.auth.sign_in_link_ttl_hours)
    link = crm.credentials.create_sign_in_link(agent_id, ttl=ttl)
    base = public_url(settings) if settings.api.public_url else str(request.base_url)
    return SignInLink(url=sign_in_url(base, link.token), expires_at=link.expires_at)


def _require(crm: CRMStore, agent_id: str) -> AgentView:
    agent = crm.agents.get(agent_id)
    if agent is None:
        raise HTTPException(status_code=404, detail=f"no agent {agent_id}")
    return agent


@router.get("/agents")
def list_agents(crm: CRMDep, include_disabled: bool = Query(default=True)) -> list[AgentView]:
    """Every agent by name."""
    return crm.agents.list_all(include_disabled=include_disabled)


@router.post("/agents", status_code=201)
def create_agent(
    body: AgentCreate, request: Request, crm: CRMDep, settings: SettingsDep, _: AdminDep, audit: AuditDep
) -> CreatedAgent:
    """A new agent and a one-time sign-in link to hand them; 409 when the email is taken."""
    agent = crm.agents.create(**body.model_dump())
    audit.record("agent.create", "agent", agent.id, after=body.model_dump())
    return CreatedAgent(agent=agent, sign_in=_link(crm, settings, request, agent.id))


@router.get("/agents/{agent_id}")
def get_agent(agent_id: str, crm: CRMDep) -> AgentView:
    return _require(crm, agent_id)


@router.patch("/agents/{agent_id}")
def update_agent(
    agent_id: str, body: AgentUpdate, crm: CRMDep, kb: KBDep, caller: AdminDep, audit: AuditDep
) -> AgentView:
    """Change an agent's name, role, languages, channels, capacity, availability or disabled;
    conversations waiting for an agent are assigned to them when they now fit, and a disabled
    agent's conversations go back to the unassigned inbox."""
    changes = body.model_dump(exclude_unset=True)
    nulls = sorted(field for field, value in changes.items() if value is None)
    if nulls or not changes:
        raise unprocessable(nulls[0] if nulls else "body", f"nothing to change, or null fields: {nulls}")
    before = _require(crm, agent_id)
    after = crm.agents.update(agent_id, **changes)
    audit.record(
        "agent.update",
        "agent",
        agent_id,
        before={field: getattr(before, field) for field in changes},
        after={field: getattr(after, field) for field in changes},
    )
    if changes.get("disabled") is True:
        release_agent(crm, kb, agent_id, actor_id=caller.agent.id)
    elif after.availability == "online":
        assign_waiting(crm, kb)
    return after


@router.delete("/agents/{agent_id}", status_code=204)
def disable_agent(agent_id: str, crm: CRMDep, kb: KBDep, caller: AdminDep, audit: AuditDep) -> Response:
    """Disable an agent: their tokens, sessions and links stop working at once, and the
    conversations assigned to them go back to the unassigned inbox."""
    before = _require(crm, agent_id)
    crm.agents.update(agent_id, disabled=True)
    audit.record(
        "agent.disable", "agent", agent_id, before={"disabled": before.disabled}, after={"disabled": True}
    )
    release_agent(crm, kb, agent_id, actor_id=caller.agent.id)
    return Response(status_code=204)


@router.post("/agents/{agent_id}/sign-in-link", status_code=201)
def new_sign_in_link(
    agent_id: str, request: Request, crm: CRMDep, settings: SettingsDep, _: AdminDep, audit: AuditDep
) -> SignInLink:
    """A new one-time sign-in link for an agent (who lost theirs, or has no password)."""
    if crm.agents.get(agent_id) is None:
        raise NotFound(f"no agent {agent_id}")
    link = _link(crm, settings, request, agent_id)
    audit.record("agent.sign_in_link", "agent", agent_id, after={"expires_at": link.expires_at})
    return link
