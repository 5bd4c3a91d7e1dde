"""What a search computes apart from its page, kept while the knowledge base is unchanged.

A broad search spends most of its time on parts that do not depend on the page asked for:
its capped total, its facet counts, the bm25 ranking of its relevance window, the grouping of
that window's matches per conversation. An inbox polled by many agents asks the same ones over
and over. :class:`SearchCache` keeps them, keyed by the SQL and parameters that compute them,
and forgets all of them whenever the data may have changed:

* a write through this ``SQLiteKB`` clears it once committed (:meth:`SearchCache.invalidate`);
* a write by anything else - another process, another connection - is noticed by the next
  search on each connection: SQLite's ``PRAGMA data_version`` changes when another connection
  has committed since the connection last asked (``SQLiteKB._memo``).

So an answer is what the same search would compute against the data as it is when the search
starts (a write committing while a search runs may or may not be in it, as without the cache:
a search's statements each read their own snapshot). An entry computed while the cache was
cleared is not kept (its generation is gone). The cache is bounded (least recently used entries
go first), and a value is only kept when the caller says it is small enough.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from hub.generational_lru import GenerationalLRU

__all__ = ["NO_MEMO", "Memo", "SearchCache"]

T = TypeVar("T")

#: entries kept at most: a ranked window (2,000 rows of 3 numbers) is about 300 KB, so at most
#: about 20 MB; totals and facets are a few hundred bytes
MAX_ENTRIES = 64


class SearchCache:
    """Thread-safe, bounded map of key -> value, all forgotten on :meth:`invalidate`."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: GenerationalLRU[Hashable, Any] = GenerationalLRU(max_entries)

    @property
    def max_entries(self) -> int:
        return self._entries.max_entries

    @property
    def generation(self) -> int:
        return self._entries.generation

    def invalidate(self) -> None:
        """Forget everything, and every value being computed now: the data changed."""
        self._entries.clear()

    def memo(self, generation: int) -> Memo:
        """What a search started at ``generation`` reads and fills the cache through."""
        return Memo(self, generation) if self.max_entries > 0 else NO_MEMO

    def _get(self, generation: int, key: Hashable) -> tuple[bool, Any]:
        return self._entries.get(key, generation)

    def _put(self, generation: int, key: Hashable, value: Any) -> None:
        self._entries.put(key, value, generation)


class Memo:
    """One search's view of the cache: ``memo(key, compute)`` answers a kept value or computes
    (and keeps) it. ``key`` must name everything the value depends on besides the data."""

    def __init__(self, cache: SearchCache | None, generation: int) -> None:
        self._cache = cache
        self._generation = generation

    @property
    def keeps(self) -> bool:
        """Whether anything is kept (else a whole ranking is not worth reading for one page)."""
        return self._cache is not None

    def __call__(self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
        """``compute()``, or what it answered for ``key`` since the data last changed; the
        answer is kept unless ``keep`` says otherwise (too large to hold)."""
        if self._cache is None:
            return compute()
        found, value = self._cache._get(self._generation, key)
        if found:
            return value
        value = compute()
        if keep is None or keep(value):
            self._cache._put(self._generation, key, value)
        return value


#: computes every time (no cache)
NO_MEMO = Memo(None, 0)
