"""Shared API dependencies: the settings, the knowledge base and the CRM store.

The app factory puts one of each on ``app.state``; routers receive them through these
annotated dependencies, never by importing globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from hub.errors import InvalidInput
from hub.settings import Settings
from kb.base import KnowledgeBase
from kb.query import QuerySyntaxError

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


def query_error(exc: InvalidInput) -> HTTPException:
    """A 400 for a search the user got wrong, saying where and what was expected."""
    detail: dict[str, Any] = {"message": str(exc)}
    if isinstance(exc, QuerySyntaxError):
        detail |= {"position": exc.position, "expected": exc.expected}
    return HTTPException(status_code=400, detail=detail)


SettingsDep = Annotated[Settings, Depends(get_settings)]
KBDep = Annotated[KnowledgeBase, Depends(get_kb)]
CRMDep = Annotated["CRMStore", Depends(get_crm)]
