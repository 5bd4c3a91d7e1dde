"""``GET /events``: what changed, in commit order, for followers (the web console, other systems).

Page with the cursor: ``after`` is the last id seen (``next_after`` of the previous page); ids
only grow in commit order, so following ``next_after`` misses nothing (docs/events.md). Viewers
read: events carry ids and states, never message text or secrets.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.deps import CRM_ROUTES, MAX_ROW_ID, CRMDep, require_viewer
from api.errors import error_responses
from crm import Event

__all__ = ["router"]

router = APIRouter(
    tags=["events"],
    responses=error_responses(503),
    dependencies=[Depends(require_viewer), *CRM_ROUTES],
)


class EventPage(BaseModel):
    items: list[Event]
    #: pass as ``after`` for the next page (the same ``after`` again when nothing was new)
    next_after: int


@router.get("/events")
def read_events(
    crm: CRMDep,
    after: int = Query(default=0, ge=0, le=MAX_ROW_ID, description="the last id already seen"),
    limit: int = Query(default=100, ge=1, le=1000),
    type: list[str] | None = Query(
        default=None, max_length=50, description="only these types, e.g. conversation.assigned"
    ),
    conversation_id: str | None = Query(default=None, max_length=256),
    contact_id: str | None = Query(default=None, max_length=64),
) -> EventPage:
    """Events with ids above ``after``, oldest first."""
    items = crm.events.read(
        after=after, limit=limit, types=type, conversation_id=conversation_id, contact_id=contact_id
    )
    return EventPage(items=items, next_after=items[-1].id if items else after)
