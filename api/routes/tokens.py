"""API tokens (``/auth/tokens``): create one for yourself (admins for anyone), list, revoke.

A token is shown once, in the answer that creates it, and stored only as a digest. Any
signed-in agent manages their own tokens; an admin also anyone's (``agent_id``). Someone
else's token is 404 to a non-admin, exactly like a token that does not exist.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from api.deps import CRM_ROUTES, AuditDep, CRMDep, CurrentAgent, SettingsDep
from api.errors import error_responses, unprocessable
from api.fields import RequestBody
from crm import Authenticated, TokenView, role_at_least

__all__ = ["router"]

router = APIRouter(tags=["auth"], responses=error_responses(400, 404, 409, 503), dependencies=CRM_ROUTES)


class TokenRequest(RequestBody):
    name: str = Field(default="api", min_length=1, max_length=256, description="what the token is for")
    expires_in_days: int | None = Field(
        default=None, ge=1, description="auth.token_ttl_days (90) when left out; auth.token_max_days at most"
    )
    agent_id: str | None = Field(default=None, description="admins only: a token for another agent")


class CreatedToken(BaseModel):
    """The token itself, shown this once: keep it somewhere safe."""

    token: str
    info: TokenView


def _target(caller: Authenticated, agent_id: str | None) -> str:
    if agent_id is None or agent_id == caller.agent.id:
        return caller.agent.id
    if not role_at_least(caller.agent.role, "admin"):
        raise HTTPException(status_code=403, detail="only admins manage other agents' tokens")
    return agent_id


@router.get("/auth/tokens")
def list_tokens(
    caller: CurrentAgent,
    crm: CRMDep,
    agent_id: str | None = Query(default=None, description="admins only: another agent's tokens"),
    include_revoked: bool = False,
) -> list[TokenView]:
    """Your tokens (never the tokens themselves), newest first."""
    return crm.credentials.list_tokens(_target(caller, agent_id), include_revoked=include_revoked)


@router.post("/auth/tokens", status_code=201)
def create_token(
    caller: CurrentAgent,
    crm: CRMDep,
    settings: SettingsDep,
    audit: AuditDep,
    body: TokenRequest | None = None,
) -> CreatedToken:
    """A new API token; send it as ``Authorization: Bearer <token>``."""
    body = body or TokenRequest()
    agent_id = _target(caller, body.agent_id)
    days = body.expires_in_days or settings.auth.token_ttl_days
    if days > settings.auth.token_max_days:
        raise unprocessable("expires_in_days", f"expires_in_days is at most {settings.auth.token_max_days}")
    created = crm.credentials.create_token(agent_id, name=body.name, ttl=timedelta(days=days))
    view = created.view
    audit.record(
        "token.create",
        "token",
        view.id,
        after={"agent_id": agent_id, "name": view.name, "expires_at": view.expires_at},
    )
    return CreatedToken(token=created.token, info=view)


@router.delete("/auth/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str, caller: CurrentAgent, crm: CRMDep, audit: AuditDep) -> Response:
    """Revoke a token at once (yours; admins: anyone's)."""
    token = crm.credentials.get_token(token_id)
    mine = token is not None and token.agent_id == caller.agent.id
    if token is None or not (mine or role_at_least(caller.agent.role, "admin")):
        raise HTTPException(status_code=404, detail=f"no token {token_id}")
    revoked = crm.credentials.revoke_token(token_id)
    audit.record(
        "token.revoke", "token", token_id, after={"agent_id": revoked.agent_id, "name": revoked.name}
    )
    return Response(status_code=204)
