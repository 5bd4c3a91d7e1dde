"""The requests of one search against Elasticsearch, held to the search's deadline.

Each request carries what is left of the deadline three ways:

* ``timeout`` in the search body: every shard stops collecting when it passes and answers
  what it has, flagged ``timed_out`` - which this module turns into ``QueryTooExpensive``
  rather than serve partial hits, facets and totals as if they were whole;
* the client's ``request_timeout`` (what is left plus :data:`GRACE_S`, for the shards' answers
  to arrive), without the client's retry on timeout: the same search sent again would only
  cost as much again. When it passes the client drops the connection, and Elasticsearch
  (7.4 and later) cancels a search whose connection closed;
* an ``X-Opaque-Id`` naming the search, so that after a client timeout the search task is
  also cancelled through the tasks API (best effort: a phase that ignores the closed
  connection, such as a coordinating node's reduce, is stopped too).

``terminate_after`` is not a deadline (it caps documents per shard, not time) and is not used.
"""

from __future__ import annotations

import uuid
import warnings
from contextlib import suppress
from typing import Any

from elasticsearch import ApiError, ConnectionTimeout, Elasticsearch, TransportError
from elasticsearch.exceptions import GeneralAvailabilityWarning

from kb.limits import Deadline

__all__ = ["GRACE_S", "TimedRequests"]

#: seconds the client waits past the deadline for the shards' (timed-out) answers to arrive
GRACE_S = 1.0
#: the timeout of the best-effort requests that cancel a search past its deadline
_CANCEL_TIMEOUT_S = 2.0
_SEARCH_ACTIONS = "indices:data/read/search*"


class TimedRequests:
    """The search and get requests of one search, all within ``deadline``."""

    def __init__(self, client: Elasticsearch, deadline: Deadline) -> None:
        self.client = client
        self.deadline = deadline
        self.opaque_id = f"parley-search-{uuid.uuid4().hex}"

    def _bounded(self) -> Elasticsearch:
        remaining = self.deadline.remaining()
        if remaining is None:
            return self.client
        if remaining <= 0:
            raise self.deadline.exceeded()
        return self.client.options(
            request_timeout=remaining + GRACE_S, retry_on_timeout=False, opaque_id=self.opaque_id
        )

    def search(self, **body: Any) -> Any:
        """``client.search(**body)`` with ``timeout`` set to what is left of the deadline.

        Raises ``QueryTooExpensive`` when a shard timed out or the answer came too late.
        """
        remaining = self.deadline.remaining()
        if remaining is not None:
            body["timeout"] = f"{max(1, int(remaining * 1000))}ms"
        try:
            response = self._bounded().search(**body)
        except ConnectionTimeout as exc:
            self._cancel()
            raise self.deadline.exceeded() from exc
        if response.get("timed_out"):
            raise self.deadline.exceeded()
        return response

    def mget(self, **kwargs: Any) -> Any:
        """``client.mget(**kwargs)`` within the deadline."""
        try:
            return self._bounded().mget(**kwargs)
        except ConnectionTimeout as exc:
            raise self.deadline.exceeded() from exc

    def _cancel(self) -> None:
        """Cancel the search tasks this search started (best effort, never raises)."""
        client = self.client.options(request_timeout=_CANCEL_TIMEOUT_S, retry_on_timeout=False)
        with suppress(ApiError, TransportError), warnings.catch_warnings():
            # the client marks the tasks API "technical preview"; it has been stable since 5.x
            warnings.simplefilter("ignore", GeneralAvailabilityWarning)
            listing = client.tasks.list(actions=_SEARCH_ACTIONS, detailed=True)
            for node in (listing.get("nodes") or {}).values():
                for task_id, task in (node.get("tasks") or {}).items():
                    if (task.get("headers") or {}).get("X-Opaque-Id") == self.opaque_id:
                        client.tasks.cancel(task_id=task_id)
