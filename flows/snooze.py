"""The snooze timer: snoozed conversations reopen when their time comes.

:func:`wake_due` is one tick (testable directly with any ``now``): the routing table reopens
every snoozed conversation whose ``snoozed_until`` has passed (``conversation.status_changed``
and ``conversation.reopened`` with reason ``snooze_ended``, in its transaction) and the
knowledge-base documents follow. :class:`SnoozeTimer` ticks every ``routing.snooze_poll_s`` on a
daemon thread; ``parley run`` and ``parley serve`` start one beside the API. Several timers at
once are safe: the routing lock lets one reopen a conversation, the others find nothing due.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from crm import CRMStore
from crm.routing import RoutingState
from flows.routing import ATTEMPTS
from kb.base import KnowledgeBase
from kb.conversations import project_triage

__all__ = ["SnoozeTimer", "wake_due"]

log = logging.getLogger("parley.routing")


def wake_due(crm: CRMStore, kb: KnowledgeBase, now: datetime | None = None) -> list[RoutingState]:
    """Reopen the snoozed conversations due at ``now`` (default: the current time); the rows."""
    woken = crm.routing.wake_snoozed(now)
    project_triage(kb, woken, attempts=ATTEMPTS)
    if woken:
        log.info("reopened %d snoozed conversations", len(woken))
    return woken


class SnoozeTimer:
    """Calls :func:`wake_due` every ``interval_s`` seconds until :meth:`stop`."""

    def __init__(self, crm: CRMStore, kb: KnowledgeBase, interval_s: float) -> None:
        self._crm, self._kb, self._interval = crm, kb, interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="parley-snooze", daemon=True)

    def start(self) -> SnoozeTimer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                wake_due(self._crm, self._kb)
            except Exception:  # a busy store or a passing fault: the next tick tries again
                log.exception("snooze timer tick failed; retrying in %.0f s", self._interval)
