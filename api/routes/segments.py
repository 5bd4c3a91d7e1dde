"""The /segments resource: static and dynamic segments of contacts, CSV import and export.

A dynamic segment's members are evaluated on demand from its criteria (``crm.criteria``);
``POST /segments/{id}/refresh`` also stores them and their count. A CSV import is checked
whole before anything is written (a file with unreadable records is a 422 listing the first
ones) and then added in batches; it answers counts and the first unmatched rows. An export
neutralises cells a spreadsheet would run as formulas (``crm.csvfile``).

Viewers read. Editing segments (create, update, delete, members, CSV import) needs supervisor:
segments decide what routing rules and bulk exports reach. Refreshing a dynamic segment and
exporting members (a bulk download of personal data) need the agent role. Each of these is in
the audit log as ``segment.<verb>``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import CRM_ROUTES, MAX_CRM_OFFSET, AgentDep, AuditDep, CRMDep, SupervisorDep, require_viewer
from api.errors import error_responses
from api.fields import MAX_TEXT_CHARS, Id, RequestBody
from api.routes.contacts import ContactPage
from crm import CRMStore, SegmentView
from crm.csvfile import csv_lines
from crm.segment_csv import ECHOED_CELL_CHARS, IMPORT_MAX_PROBLEMS

__all__ = ["router"]

router = APIRouter(
    tags=["segments"],
    responses=error_responses(400, 404, 409, 413, 503),
    dependencies=[Depends(require_viewer), *CRM_ROUTES],
)


class SegmentCreate(RequestBody):
    name: str = Field(min_length=1, max_length=256)
    kind: Literal["static", "dynamic"]
    criteria: str | None = Field(
        default=None,
        max_length=MAX_TEXT_CHARS,
        description="dynamic only, e.g. channel:twitter AND sentiment_avg < -0.3 AND last_seen > now-30d",
    )
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class SegmentUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    criteria: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class Members(RequestBody):
    contact_ids: list[Id] = Field(min_length=1, max_length=10_000)


class MembersChanged(BaseModel):
    changed: int
    segment: SegmentView


class UnmatchedRow(BaseModel):
    line: int = Field(description="where the record starts in the file (the header is line 1)")
    reason: str
    row: dict[str, str] = Field(
        description=f"the non-empty columns the import reads, each cut to {ECHOED_CELL_CHARS} characters"
    )


class ImportResult(BaseModel):
    added: int
    already: int = Field(description="rows naming a contact that was already a member")
    unmatched_count: int
    unmatched: list[UnmatchedRow] = Field(description=f"the first {IMPORT_MAX_PROBLEMS} unmatched rows")
    segment: SegmentView


def _require(crm: CRMDep, segment_id: str) -> SegmentView:
    segment = crm.segments.get(segment_id)
    if segment is None:
        raise HTTPException(status_code=404, detail=f"no segment {segment_id}")
    return segment


@router.get("/segments")
def list_segments(crm: CRMDep) -> list[SegmentView]:
    return crm.segments.list_all()


@router.post("/segments", status_code=201)
def create_segment(body: SegmentCreate, crm: CRMDep, _: SupervisorDep, audit: AuditDep) -> SegmentView:
    """A static segment (add members or import a CSV) or a dynamic one (criteria)."""
    segment = crm.segments.create(body.name, body.kind, criteria=body.criteria, description=body.description)
    audit.record("segment.create", "segment", segment.id, after=body.model_dump())
    return segment


@router.get("/segments/{segment_id}")
def get_segment(segment_id: str, crm: CRMDep) -> SegmentView:
    return _require(crm, segment_id)


@router.patch("/segments/{segment_id}")
def update_segment(
    segment_id: str, body: SegmentUpdate, crm: CRMDep, _: SupervisorDep, audit: AuditDep
) -> SegmentView:
    before = _require(crm, segment_id)
    segment = crm.segments.update(
        segment_id, name=body.name, criteria=body.criteria, description=body.description
    )
    changed = body.model_dump(exclude_unset=True)
    audit.record(
        "segment.update",
        "segment",
        segment_id,
        before={field: getattr(before, field) for field in changed},
        after={field: getattr(segment, field) for field in changed},
    )
    return segment


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, crm: CRMDep, _: SupervisorDep, audit: AuditDep) -> Response:
    before = _require(crm, segment_id)
    crm.segments.delete(segment_id)
    audit.record("segment.delete", "segment", segment_id, before=before)
    return Response(status_code=204)


@router.post("/segments/{segment_id}/refresh")
def refresh_segment(segment_id: str, crm: CRMDep, _: AgentDep, audit: AuditDep) -> SegmentView:
    """Re-evaluate a dynamic segment now and store its members and count."""
    segment = crm.segments.refresh(segment_id)
    audit.record("segment.refresh", "segment", segment_id, after={"member_count": segment.member_count})
    return segment


@router.get("/segments/{segment_id}/contacts")
def segment_contacts(
    segment_id: str,
    crm: CRMDep,
    limit: int = Query(default=25, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_CRM_OFFSET),
) -> ContactPage:
    """The segment's members as they are now, most recently active first."""
    total, ids = crm.segments.member_ids(segment_id, limit=limit, offset=offset)
    found = crm.get_contacts(ids)
    return ContactPage(total=total, items=[found[i] for i in ids if i in found])


@router.post("/segments/{segment_id}/members")
def add_members(
    segment_id: str, body: Members, crm: CRMDep, _: SupervisorDep, audit: AuditDep
) -> MembersChanged:
    """Add contacts to a static segment."""
    changed = crm.segments.add_members(segment_id, body.contact_ids)
    audit.record(
        "segment.add_members",
        "segment",
        segment_id,
        after={"contact_ids": body.contact_ids, "added": changed},
    )
    return MembersChanged(changed=changed, segment=_require(crm, segment_id))


@router.post("/segments/{segment_id}/members/remove")
def remove_members(
    segment_id: str, body: Members, crm: CRMDep, _: SupervisorDep, audit: AuditDep
) -> MembersChanged:
    """Remove contacts from a static segment."""
    changed = crm.segments.remove_members(segment_id, body.contact_ids)
    audit.record(
        "segment.remove_members",
        "segment",
        segment_id,
        before={"contact_ids": body.contact_ids, "removed": changed},
    )
    return MembersChanged(changed=changed, segment=_require(crm, segment_id))


#: the import route; its body cap is ``api.max_import_bytes`` (see :mod:`api.limits`)
IMPORT_ROUTE = "/segments/{segment_id}/import"


@router.post(
    IMPORT_ROUTE,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_members(
    segment_id: str, request: Request, crm: CRMDep, _: SupervisorDep, audit: AuditDep
) -> ImportResult:
    """Add the contacts a CSV body names (header with contact_id, or email / phone / handle
    [+ channel]) to a static segment; rows matching nobody are counted, and the first
    come back with a reason. A file with records that cannot be read is refused (422, the first
    problems with their lines) before anything is added.

    A body over ``api.max_import_bytes`` (20 MiB by default) is refused with 413 before it is
    read (Content-Length) or as soon as the streamed body passes the cap (chunked uploads); the
    database work runs in the threadpool so a 20 MB import never stalls the event loop."""
    body = await request.body()
    result = await run_in_threadpool(_import_csv, crm, segment_id, body)
    await run_in_threadpool(
        audit.record,
        "segment.import",
        "segment",
        segment_id,
        after={
            "bytes": len(body),
            "added": result.added,
            "already": result.already,
            "unmatched": result.unmatched_count,
        },
    )
    return result


def _import_csv(crm: CRMStore, segment_id: str, body: bytes) -> ImportResult:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(status_code=400, detail=f"CSV is not UTF-8: {exc}") from exc
    report = crm.segments.import_csv(segment_id, text)
    return ImportResult(
        added=report.added,
        already=report.already,
        unmatched_count=report.unmatched_count,
        unmatched=[UnmatchedRow.model_validate(row) for row in report.unmatched],
        segment=_require(crm, segment_id),
    )


def attachment(filename: str, fallback: str) -> str:
    """A Content-Disposition for ``filename`` (RFC 6266): the name itself as ``filename*``
    (UTF-8, percent-encoded, RFC 5987) and an ASCII ``filename`` for clients that know no
    other; ``fallback`` names the file when nothing of the name is ASCII. A header must be
    Latin-1, so a name such as 東京 cannot go in as it is."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in stem)
    if not ascii_stem.strip("_"):
        ascii_stem = fallback
    ascii_name = f"{ascii_stem}{dot}{extension}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/segments/{segment_id}/export.csv", response_class=StreamingResponse)
def export_members(segment_id: str, crm: CRMDep, _: AgentDep, audit: AuditDep) -> StreamingResponse:
    """All members as CSV, one row per contact with their profile rollups."""
    segment = _require(crm, segment_id)
    audit.record("segment.export", "segment", segment_id, after={"member_count": segment.member_count})
    return StreamingResponse(
        csv_lines(crm.segments.export_rows(segment_id)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(f"{segment.name}.csv", fallback=segment.id)},
    )
