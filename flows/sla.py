"""The SLA worker: keeps the clocks following the event log and scans for breaches, and the
escalation that changes a conversation where it lives (the knowledge base).

:class:`KBEscalator` raises a conversation's priority (never lowers it) and unassigns it
through the routing table (``crm.routing``, which owns triage and appends
``conversation.updated`` / ``conversation.assigned`` with the system as actor), then writes the
changed rows into their documents; unassigning lets routing give the conversation to someone
who fits (or queue it), and the tracker picks the new priority's policy. It reads the routing
row first, so applying one escalation twice changes nothing the second time.

:func:`run_sla_worker` is the background loop ``parley run`` / ``parley serve`` start (a
thread, stopped by an event); one pass is :func:`sla_pass`, which tests call directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm.routing import Seed
from crm.sla import BreachAction
from crm.sla.policies import PRIORITY_RANK
from crm.store import CRMStore
from hub.errors import RetriableError
from hub.models import utcnow
from kb.base import KnowledgeBase

__all__ = ["KBEscalator", "run_sla_worker", "sla_pass"]

log = logging.getLogger("parley.sla")


class KBEscalator:
    """Applies breach escalations to conversations in ``kb``, logging them in ``crm.events``."""

    def __init__(self, kb: KnowledgeBase, crm: CRMStore) -> None:
        self._kb = kb
        self._crm = crm

    def __call__(self, action: BreachAction) -> None:
        cid = action.conversation_id
        conversation = self._kb.get_conversation(cid)
        if conversation is None:
            log.info("SLA breach of %s: the conversation is gone; nothing to escalate", cid)
            return
        routing = self._crm.routing
        # the routing table decides triage (docs/architecture.md); the document follows it
        state = routing.get(cid)
        if state is None:
            routing.seed([Seed.of(conversation)])
            state = routing.get(cid)
        if state is None:
            return
        changes: dict[str, Any] = {}
        if action.raise_priority and PRIORITY_RANK[action.raise_priority] > PRIORITY_RANK[state.priority]:
            changes["priority"] = action.raise_priority
        if action.unassign and state.assignee is not None:
            changes["assignee"] = None
        if not changes:
            return
        log.info("SLA breach of %s (%s): escalating %s", cid, action.target, sorted(changes))
        for changed in routing.update(cid, changes, actor_id=None):
            self._kb.update_conversation(changed.conversation_id, changed.triage())


def sla_pass(
    crm: CRMStore,
    kb: KnowledgeBase,
    now: datetime | None = None,
    *,
    policies_seen: list[object] | None = None,
) -> tuple[int, int]:
    """Follow the log, recompute clocks when a policy changed since ``policies_seen`` (a
    one-item list the caller keeps between passes; ``None``: do not check), then scan for
    breaches; returns (events applied, breaches recorded)."""
    applied = crm.sla.follow()
    if policies_seen is not None:
        fingerprint = crm.sla.policies.fingerprint()
        if policies_seen != [fingerprint]:
            changed = crm.sla.reapply()
            policies_seen[:] = [fingerprint]
            if changed:
                log.info("SLA policies changed: due times of %d conversations recomputed", changed)
    breached = crm.sla.scan(now, KBEscalator(kb, crm))
    if breached:
        applied += crm.sla.follow()  # the escalations' own events
    return applied, breached


def run_sla_worker(
    crm: CRMStore,
    kb: KnowledgeBase,
    interval_s: float,
    stop: threading.Event,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Run :func:`sla_pass` every ``interval_s`` seconds until ``stop`` is set, breaches judged
    at ``now()``. A failing pass is logged and tried again at the next interval (the cursor
    makes it resume exactly). Policy changes (through any process) are applied to running
    clocks at the next pass."""
    policies_seen: list[object] = []
    while not stop.is_set():
        try:
            applied, breached = sla_pass(crm, kb, now(), policies_seen=policies_seen)
            if applied or breached:
                log.info("SLA: %d events applied, %d breaches", applied, breached)
        except RetriableError as exc:
            log.warning("SLA pass deferred (%s); retrying in %.0f s", exc, interval_s)
        except Exception:
            log.exception("SLA pass failed; retrying in %.0f s", interval_s)
        stop.wait(interval_s)
