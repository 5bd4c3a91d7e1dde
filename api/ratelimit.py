"""A sliding-window limiter of failed attempts, in this process's memory.

Used for sign-ins: a key (an email, a client address) that failed ``limit`` times in the last
``window_s`` seconds waits until the oldest of those failures leaves the window. The state is
per process: a hub served by several API processes allows ``limit`` failures per process; a
shared store (the CRM database, Redis) would be needed to do better, and is not worth it while
one process serves. At most ``max_keys`` keys are remembered (the stalest are forgotten first),
so a flood of made-up emails cannot grow the memory without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

__all__ = ["FailureLimiter"]


class FailureLimiter:
    """Counts failures per key; :meth:`wait` says how long a key must wait (0 when it may try)."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        # sign-ins are answered in the threadpool: several threads share one limiter
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds until every one of ``keys`` may try again (0.0 when all may now)."""
        with self._lock:
            now = self._clock()
            longest = 0.0
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.limit:
                    longest = max(longest, times[-self.limit] + self.window_s - now)
            return longest

    def fail(self, keys: Iterable[str]) -> None:
        """Record one failure against each of ``keys``."""
        with self._lock:
            now = self._clock()
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        """Clear ``key``'s failures (after it succeeded)."""
        with self._lock:
            self._failures.pop(key, None)
