"""Who an API token authenticated, remembered for a few seconds (``CredentialStore``).

Every API request presents its token, and looking it up (a join of ``api_tokens`` and
``agents`` through SQLAlchemy, a transaction of its own) was about a tenth of the CPU an inbox
page costs. The cache answers a token seen within ``seconds`` without the database, keyed by
the token's SHA-256 digest (never the token itself), and is correct in this sense:

* a change made through this process's stores - a token revoked, an agent disabled, its role
  or anything else about it changed, a password set - clears the cache before the change
  returns (:meth:`CredentialCache.clear`), and a lookup that raced with the change is not
  remembered (the generation it started in is gone), so the next request sees the change;
* a change made by another process (``parley agents ...``, a second API process) is seen
  within ``seconds``; ``auth.credential_cache_seconds = 0`` turns the cache off;
* an entry is never used past its token's expiry, nor once the token's ``last_used_at`` is
  due to be written again (the lookup then goes to the database, which writes it);
* unknown, expired, revoked or disabled answers are never remembered: a new token works at
  once, and a client trying tokens fills nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from hub.generational_lru import GenerationalLRU

__all__ = ["CredentialCache"]

#: tokens remembered at most; the least recently used one goes first
MAX_ENTRIES = 1024

T = TypeVar("T")


class CredentialCache(Generic[T]):
    """Thread-safe, bounded map of token digest -> what the database said of it (the
    credential store's ``CachedToken``), each for ``seconds`` (see the module doc)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: GenerationalLRU[str, tuple[T, float]] = GenerationalLRU(MAX_ENTRIES)

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def generation(self) -> int:
        """Take before reading the database; :meth:`put` refuses answers read before a clear."""
        return self._entries.generation

    def __len__(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        return self._clock()

    def get(self, key: str) -> T | None:
        """The entry for ``key`` if it was seen within ``seconds`` (it may still be too old for
        the caller's other checks: expiry, ``last_used_at``)."""
        if not self.enabled:
            return None
        found, kept = self._entries.get(key)
        if not found or kept is None:
            return None
        entry, seen = kept
        if self._clock() - seen >= self.seconds:
            self._entries.discard(key)
            return None
        return entry

    def put(self, key: str, entry: T, seen: float, generation: int) -> None:
        """Remember ``entry``, read from the database at ``seen`` (:meth:`now`), unless the
        cache was cleared since ``generation`` was taken."""
        if self.enabled:
            self._entries.put(key, (entry, seen), generation)

    def clear(self) -> None:
        """Forget every entry, and every lookup still in flight: agents or credentials changed."""
        self._entries.clear()
