"""Shared API dependencies: the settings, the knowledge base and the CRM store; and the
query parameter types and bounds every router shares.

The app factory puts one of each store on ``app.state``; routers receive them through these
annotated dependencies, never by importing globals.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BeforeValidator

from hub.settings import Settings
from kb.base import KnowledgeBase

if TYPE_CHECKING:
    from crm.store import CRMStore


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase = request.app.state.kb
    return kb


def get_crm(request: Request) -> CRMStore:
    crm: CRMStore = request.app.state.crm
    return crm


def split_multi(values: list[str] | None) -> list[str] | None:
    """Query parameters given as ``?channel=a&channel=b`` or ``?channel=a,b``; None when absent."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()] or None


def refuse_nul_characters(request: Request) -> None:
    """A 422 for a NUL character in a path or query parameter (a dependency of the routers
    over the CRM store, :data:`CRM_ROUTES`).

    Their parameters reach the CRM store as SQL parameters, and PostgreSQL refuses NUL in
    text: one ``?q=%00`` was a 500 on every route that queries the CRM. The knowledge base
    searches NUL as text, so its routes take it."""
    errors = [
        {"loc": ("path", name), "msg": "must not contain NUL characters", "type": "value_error"}
        for name, value in request.path_params.items()
        if isinstance(value, str) and "\x00" in value
    ] + [
        {"loc": ("query", name), "msg": "must not contain NUL characters", "type": "value_error"}
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]
    if errors:
        raise RequestValidationError(errors)


SettingsDep = Annotated[Settings, Depends(get_settings)]
KBDep = Annotated[KnowledgeBase, Depends(get_kb)]
CRMDep = Annotated["CRMStore", Depends(get_crm)]
#: the dependencies of every router over the CRM store
CRM_ROUTES = [Depends(refuse_nul_characters)]


#: the deepest ``offset`` of the knowledge base's lists (/search, /conversations): the window
#: the Elasticsearch backend pages by offset; deeper pages follow ``next_cursor``
MAX_KB_OFFSET = 10_000
#: the deepest ``offset`` of the CRM store's lists (/contacts, segment members, /dead-letters)
MAX_CRM_OFFSET = 100_000

_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601_only(value: Any) -> Any:
    # pydantic reads a bare number as seconds since 1970 ("until=0.5" was 1970-01-01): a time
    # must be written as one, so a number that was meant as something else is refused.
    if not isinstance(value, datetime) and not (isinstance(value, str) and _DATE_FIRST.match(value)):
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T09:00:00Z")
    return value


def _as_utc(value: datetime) -> datetime:
    # A time without an offset is UTC, as everywhere in the hub; an offset that takes it past
    # year 1 or 9999 cannot be compared with anything stored.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


#: a time query parameter: an ISO 8601 date (midnight UTC) or date-time (UTC without offset)
Instant = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(_as_utc)]
