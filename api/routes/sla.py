"""The /sla/policies resource: SLA targets per queue and priority. Agents and supervisors
read; admins change.

A policy's scope (queue and priority, either may be any) and its name are unique (409). A
calendar that does not parse, a policy without targets or an unknown field is a 422 with the
list shape; a team to notify that does not exist is 400. Every change is in the audit log as
``sla_policy.create|replace|delete``. Edits apply to running clocks at their next event
(``crm.sla.policies``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api.deps import CRM_ROUTES, AdminDep, AuditDep, CRMDep, require_agent
from api.errors import error_responses
from api.fields import RequestBody
from crm.sla import SlaPolicy, SlaPolicySpec

__all__ = ["router"]

router = APIRouter(
    tags=["sla"],
    responses=error_responses(400, 404, 409, 503),
    dependencies=[Depends(require_agent), *CRM_ROUTES],
)


class SlaPolicyBody(SlaPolicySpec, RequestBody):
    """A whole policy: scope, targets in minutes, business hours (null: calendar time) and
    escalation."""


@router.get("/sla/policies")
def list_policies(crm: CRMDep) -> list[SlaPolicy]:
    """Every policy, the most specific scopes first."""
    return crm.sla.policies.list()


@router.post("/sla/policies", status_code=201)
def create_policy(body: SlaPolicyBody, crm: CRMDep, _: AdminDep, audit: AuditDep) -> SlaPolicy:
    """A new policy; 409 when its name or its queue and priority are taken."""
    policy = crm.sla.policies.create(body)
    audit.record("sla_policy.create", "sla_policy", policy.id, after=policy.model_dump(mode="json"))
    return policy


@router.get("/sla/policies/{policy_id}")
def get_policy(policy_id: str, crm: CRMDep) -> SlaPolicy:
    return crm.sla.policies.get(policy_id)


@router.put("/sla/policies/{policy_id}")
def replace_policy(
    policy_id: str, body: SlaPolicyBody, crm: CRMDep, _: AdminDep, audit: AuditDep
) -> SlaPolicy:
    """Replace every field of a policy."""
    before = crm.sla.policies.get(policy_id)
    policy = crm.sla.policies.replace(policy_id, body)
    audit.record(
        "sla_policy.replace",
        "sla_policy",
        policy_id,
        before=before.model_dump(mode="json"),
        after=policy.model_dump(mode="json"),
    )
    return policy


@router.delete("/sla/policies/{policy_id}", status_code=204)
def delete_policy(policy_id: str, crm: CRMDep, _: AdminDep, audit: AuditDep) -> Response:
    """Delete a policy; its conversations pick the next most specific one at their next event."""
    before = crm.sla.policies.delete(policy_id)
    audit.record("sla_policy.delete", "sla_policy", policy_id, before=before.model_dump(mode="json"))
    return Response(status_code=204)
