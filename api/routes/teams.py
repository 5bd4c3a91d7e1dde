"""The /teams resource: queues of work and the agents in them. Supervisors read; admins change.

A team name is unique (409); membership is a set (adding a member twice answers the team as
it is). Deleting a team removes its memberships, never its agents.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import Field

from api.deps import CRM_ROUTES, AdminDep, AuditDep, CRMDep, KBDep, require_supervisor
from api.errors import error_responses
from api.fields import RequestBody
from api.triage import assign_waiting
from crm import TeamView
from crm.store import CRMStore

__all__ = ["router"]

router = APIRouter(
    tags=["teams"],
    responses=error_responses(400, 404, 409, 503),
    dependencies=[Depends(require_supervisor), *CRM_ROUTES],
)


class TeamCreate(RequestBody):
    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=4000)
    member_ids: list[str] = Field(default_factory=list, max_length=1000)


class TeamUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=4000)


def _require(crm: CRMStore, team_id: str) -> TeamView:
    team = crm.teams.get(team_id)
    if team is None:
        raise HTTPException(status_code=404, detail=f"no team {team_id}")
    return team


@router.get("/teams")
def list_teams(crm: CRMDep) -> list[TeamView]:
    """Every team by name, with its members' ids."""
    return crm.teams.list_all()


@router.post("/teams", status_code=201)
def create_team(body: TeamCreate, crm: CRMDep, _: AdminDep, audit: AuditDep) -> TeamView:
    """A new team, optionally with members; 409 when the name is taken, 404 for an unknown agent."""
    team = crm.teams.create(body.name, description=body.description, member_ids=body.member_ids)
    audit.record("team.create", "team", team.id, after=team)
    return team


@router.get("/teams/{team_id}")
def get_team(team_id: str, crm: CRMDep) -> TeamView:
    return _require(crm, team_id)


@router.patch("/teams/{team_id}")
def update_team(team_id: str, body: TeamUpdate, crm: CRMDep, _: AdminDep, audit: AuditDep) -> TeamView:
    """Rename a team or change its description."""
    before = _require(crm, team_id)
    team = crm.teams.update(team_id, name=body.name, description=body.description)
    changed = body.model_dump(exclude_unset=True)
    audit.record(
        "team.update",
        "team",
        team_id,
        before={field: getattr(before, field) for field in changed},
        after={field: getattr(team, field) for field in changed},
    )
    return team


@router.delete("/teams/{team_id}", status_code=204)
def delete_team(team_id: str, crm: CRMDep, _: AdminDep, audit: AuditDep) -> Response:
    before = _require(crm, team_id)
    crm.teams.delete(team_id)
    audit.record("team.delete", "team", team_id, before=before)
    return Response(status_code=204)


@router.put("/teams/{team_id}/members/{agent_id}")
def add_member(team_id: str, agent_id: str, crm: CRMDep, kb: KBDep, _: AdminDep, audit: AuditDep) -> TeamView:
    """Add an agent to the team (404 for an unknown team or agent); conversations waiting for
    the team are assigned to them when they fit."""
    added, team = crm.teams.add_member(team_id, agent_id)
    if added:
        audit.record("team.add_member", "team", team_id, after={"agent_id": agent_id})
        assign_waiting(crm, kb)
    return team


@router.delete("/teams/{team_id}/members/{agent_id}")
def remove_member(team_id: str, agent_id: str, crm: CRMDep, _: AdminDep, audit: AuditDep) -> TeamView:
    """Remove an agent from the team (the team as it is when they were not in it)."""
    removed, team = crm.teams.remove_member(team_id, agent_id)
    if removed:
        audit.record("team.remove_member", "team", team_id, before={"agent_id": agent_id})
    return team
