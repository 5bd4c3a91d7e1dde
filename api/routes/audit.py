"""``GET /audit``: who changed what and when, oldest first, for supervisors.

Page with the cursor: ``after`` is the last id seen (``next_after`` of the previous page);
ids only grow in commit order, so following ``next_after`` misses nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.deps import CRM_ROUTES, MAX_ROW_ID, CRMDep, require_supervisor
from api.errors import error_responses
from crm import AuditEntry

__all__ = ["router"]

router = APIRouter(
    tags=["audit"],
    responses=error_responses(503),
    dependencies=[Depends(require_supervisor), *CRM_ROUTES],
)


class AuditPage(BaseModel):
    items: list[AuditEntry]
    #: pass as ``after`` for the next page (the same ``after`` again when nothing was new)
    next_after: int


@router.get("/audit")
def read_audit(
    crm: CRMDep,
    after: int = Query(default=0, ge=0, le=MAX_ROW_ID, description="the last id already seen"),
    limit: int = Query(default=100, ge=1, le=1000),
    action: str | None = Query(default=None, max_length=64, description="e.g. contact.merge"),
    actor_id: str | None = Query(default=None, max_length=64),
) -> AuditPage:
    """Audit entries with ids above ``after``, oldest first."""
    items = crm.audit.read(after=after, limit=limit, action=action, actor_id=actor_id)
    return AuditPage(items=items, next_after=items[-1].id if items else after)
