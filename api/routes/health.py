"""GET /health: is the API up and are its stores reachable? Public: no sign-in needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CRMDep, KBDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(settings: SettingsDep, kb: KBDep, crm: CRMDep) -> dict[str, Any]:
    """Status plus the size of each store; a failing store answers ``degraded``."""
    checks: dict[str, Any] = {}
    status = "ok"
    try:
        checks["kb"] = {
            "backend": settings.kb.backend,
            "messages": kb.count_messages(),
            "conversations": kb.count_conversations(),
        }
    except Exception as exc:  # health must answer even when a store is down
        status, checks["kb"] = "degraded", {"error": str(exc)}
    try:
        checks["crm"] = {"dead_letters": crm.count_dead_letters()}
    except Exception as exc:
        status, checks["crm"] = "degraded", {"error": str(exc)}
    return {"status": status, **checks}
