"""GET /dead-letters: input that could not be processed, with its raw payload and reason.

Supervisors only: raw payloads carry whatever the platforms sent, personal data included.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.deps import CRM_ROUTES, MAX_CRM_OFFSET, CRMDep, require_supervisor
from api.errors import error_responses
from hub.models import DeadLetter

router = APIRouter(
    tags=["dead-letters"],
    responses=error_responses(503),
    dependencies=[Depends(require_supervisor), *CRM_ROUTES],
)


class DeadLetterPage(BaseModel):
    total: int
    items: list[DeadLetter]


@router.get("/dead-letters")
def list_dead_letters(
    crm: CRMDep,
    stage: str | None = Query(default=None, description="parse, import, source, kb..."),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_CRM_OFFSET),
) -> DeadLetterPage:
    total, items = crm.list_dead_letters(limit=limit, offset=offset, stage=stage)
    return DeadLetterPage(total=total, items=items)
