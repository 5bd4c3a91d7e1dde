"""The SLA worker: keeps the clocks following the event log and scans for breaches, and the
escalation that changes a conversation where it lives (the knowledge base).

:class:`KBEscalator` raises a conversation's priority (never lowers it) and unassigns it, and
appends what it changed to the event log (``conversation.updated`` with ``changes``,
``conversation.assigned`` with ``assignee: null``), with the system as actor, so routing
queues the conversation again and the tracker picks the new priority's policy. It reads the
conversation first, so applying one escalation twice changes nothing the second time.

:func:`run_sla_worker` is the background loop ``parley run`` / ``parley serve`` start (a
thread, stopped by an event); one pass is :func:`sla_pass`, which tests call directly.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from crm.sla import BreachAction
from crm.sla.policies import PRIORITY_RANK
from crm.store import CRMStore
from hub.errors import RetriableError
from kb.base import KnowledgeBase

__all__ = ["KBEscalator", "run_sla_worker", "sla_pass"]

log = logging.getLogger("parley.sla")


class KBEscalator:
    """Applies breach escalations to conversations in ``kb``, logging them in ``crm.events``."""

    def __init__(self, kb: KnowledgeBase, crm: CRMStore) -> None:
        self._kb = kb
        self._crm = crm

    def __call__(self, action: BreachAction) -> None:
        conversation = self._kb.get_conversation(action.conversation_id)
        if conversation is None:
            log.info(
                "SLA breach of %s: the conversation is gone; nothing to escalate", action.conversation_id
            )
            return
        changes: dict[str, Any] = {}
        current = conversation.priority.value
        if action.raise_priority and PRIORITY_RANK[action.raise_priority] > PRIORITY_RANK[current]:
            changes["priority"] = action.raise_priority
        if action.unassign and conversation.assignee is not None:
            changes["assignee"] = None
        if not changes:
            return
        self._kb.update_conversation(action.conversation_id, changes)
        if "priority" in changes:
            self._crm.events.append(
                "conversation.updated",
                conversation_id=action.conversation_id,
                data={
                    "changes": {"priority": [current, changes["priority"]]},
                    "reason": f"sla.{action.target}",
                },
            )
        if "assignee" in changes:
            self._crm.events.append(
                "conversation.assigned",
                conversation_id=action.conversation_id,
                data={
                    "assignee": None,
                    "previous": conversation.assignee,
                    "queue": conversation.queue,
                    "rule_id": None,
                    "reason": f"sla.{action.target}",
                },
            )


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


def run_sla_worker(crm: CRMStore, kb: KnowledgeBase, interval_s: float, stop: threading.Event) -> None:
    """Run :func:`sla_pass` every ``interval_s`` seconds until ``stop`` is set. A failing pass
    is logged and tried again at the next interval (the cursor makes it resume exactly).
    Policy changes (through any process) are applied to running clocks at the next pass."""
    policies_seen: list[object] = []
    while not stop.is_set():
        try:
            applied, breached = sla_pass(crm, kb, policies_seen=policies_seen)
            if applied or breached:
                log.info("SLA: %d events applied, %d breaches", applied, breached)
        except RetriableError as exc:
            log.warning("SLA pass deferred (%s); retrying in %.0f s", exc, interval_s)
        except Exception:
            log.exception("SLA pass failed; retrying in %.0f s", interval_s)
        stop.wait(interval_s)
