"""One backoff rule for every retry in the hub: exponential, capped, optionally jittered.

Channels (IMAP reconnects, feed polls), store writers and the dispatcher all wait with
:func:`backoff_delay` and retry passing failures with :func:`retry`, so "how long do we wait
after the n-th failure" is answered in one place.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from hub.errors import RetriableError

__all__ = ["backoff_delay", "retry"]

T = TypeVar("T")

log = logging.getLogger("parley")


def backoff_delay(
    failures: int,
    *,
    base_s: float,
    max_s: float,
    floor_s: float = 0.0,
    jitter: bool = False,
) -> float:
    """The wait after ``failures`` consecutive failures (1 = the first failure).

    ``base_s`` doubles per failure up to ``max_s``; never less than ``min(floor_s, max_s)``
    (a daily feed is not retried every minute). With ``jitter`` the wait is drawn from
    [half, all] of it, so many clients that failed together do not retry together.
    """
    exponent = min(max(failures - 1, 0), 30)
    delay = min(max(base_s * (2**exponent), min(floor_s, max_s)), max_s)
    return delay * random.uniform(0.5, 1.0) if jitter else delay


def retry(
    what: str,
    call: Callable[[], T],
    *,
    attempts: int = 5,
    base_s: float = 0.2,
    max_s: float = 10.0,
    max_retry_after_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on ``RetriableError`` wait (the error's ``retry_after`` when it has one,
    clamped to ``max_retry_after_s``, else the backoff) and try again, ``attempts`` times in all.
    The last failure is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except RetriableError as exc:
            if attempt == attempts:
                raise
            asked = exc.retry_after
            wait = (
                min(max(asked, 0.0), max_retry_after_s)
                if asked is not None
                else backoff_delay(attempt, base_s=base_s, max_s=max_s)
            )
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt, attempts - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")
