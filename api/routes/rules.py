"""The /rules resource: routing rules, in evaluation order. Supervisors read; admins change.

A rule's condition is the listening query language plus conversation fields; its query is
parsed on save, and one that does not parse is refused with the query error shape (400,
``{"detail": {"message", "position", "expected"}}``). An assignment naming an agent or team
that does not exist is a 400; a body of the wrong shape a 422. Every change is in the audit log
(``rule.create``, ``rule.update``, ``rule.delete``, ``rule.reorder``). How rules apply:
``crm.rules`` and ``flows.routing``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import Field

from api.deps import CRM_ROUTES, AdminDep, AuditDep, CRMDep, require_supervisor
from api.errors import error_responses, unprocessable
from api.fields import RequestBody
from crm.rules import RuleActions, RuleCondition, RuleView
from crm.store import CRMStore
from kb.query import parse_query

__all__ = ["router"]

router = APIRouter(
    tags=["routing"],
    responses=error_responses(400, 404, 503),
    dependencies=[Depends(require_supervisor), *CRM_ROUTES],
)


class RuleCreate(RequestBody):
    name: str = Field(min_length=1, max_length=256)
    condition: RuleCondition = Field(default_factory=RuleCondition)
    actions: RuleActions
    position: int | None = Field(default=None, ge=0, le=1_000_000, description="default: last")
    enabled: bool = True
    stop: bool = Field(default=False, description="a match ends the evaluation")


class RuleUpdate(RequestBody):
    """Fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=256)
    condition: RuleCondition | None = None
    actions: RuleActions | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    enabled: bool | None = None
    stop: bool | None = None


class RuleOrder(RequestBody):
    rule_ids: list[str] = Field(min_length=1, max_length=1000, description="these first, in this order")


def _require(crm: CRMStore, rule_id: str) -> RuleView:
    rule = crm.rules.get(rule_id)
    if rule is None:
        raise HTTPException(status_code=404, detail=f"no rule {rule_id}")
    return rule


@router.get("/rules")
def list_rules(crm: CRMDep) -> list[RuleView]:
    """Every rule in evaluation order."""
    return crm.rules.list_all()


@router.post("/rules", status_code=201)
def create_rule(body: RuleCreate, crm: CRMDep, _: AdminDep, audit: AuditDep) -> RuleView:
    """A new rule, last unless ``position`` says otherwise; a query that does not parse is 400."""
    parse_query(body.condition.query)  # QuerySyntaxError: 400 with the query error shape
    rule = crm.rules.create(
        **body.model_dump(exclude={"condition", "actions"}), condition=body.condition, actions=body.actions
    )
    audit.record("rule.create", "rule", rule.id, after=rule.model_dump(mode="json"))
    return rule


@router.post("/rules/order")
def reorder_rules(body: RuleOrder, crm: CRMDep, _: AdminDep, audit: AuditDep) -> list[RuleView]:
    """Put the rules named first, in this order; the others follow in their order."""
    before = [rule.id for rule in crm.rules.list_all()]
    rules = crm.rules.reorder(body.rule_ids)
    audit.record("rule.reorder", "rule", None, before=before, after=[rule.id for rule in rules])
    return rules


@router.get("/rules/{rule_id}")
def get_rule(rule_id: str, crm: CRMDep) -> RuleView:
    return _require(crm, rule_id)


@router.patch("/rules/{rule_id}")
def update_rule(rule_id: str, body: RuleUpdate, crm: CRMDep, _: AdminDep, audit: AuditDep) -> RuleView:
    """Change a rule's name, condition, actions, position, enabled or stop."""
    changes = body.model_dump(exclude_unset=True)
    nulls = sorted(name for name, value in changes.items() if value is None)
    if nulls or not changes:
        raise unprocessable(nulls[0] if nulls else "body", f"nothing to change, or null fields: {nulls}")
    if body.condition is not None:
        parse_query(body.condition.query)
    before = _require(crm, rule_id)
    rule = crm.rules.update(
        rule_id,
        **{name: getattr(body, name) for name in changes},
    )
    audit.record(
        "rule.update",
        "rule",
        rule_id,
        before={name: getattr(before, name) for name in changes},
        after={name: getattr(rule, name) for name in changes},
    )
    return rule


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, crm: CRMDep, _: AdminDep, audit: AuditDep) -> Response:
    before = _require(crm, rule_id)
    crm.rules.delete(rule_id)
    audit.record("rule.delete", "rule", rule_id, before=before.model_dump(mode="json"))
    return Response(status_code=204)
