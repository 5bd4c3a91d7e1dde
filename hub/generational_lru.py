"""A bounded, thread-safe map whose :meth:`GenerationalLRU.clear` also voids answers in flight.

A cache of what a database said must not keep an answer read before the data changed. The
caller takes :attr:`GenerationalLRU.generation` before it reads the database and hands it to
:meth:`GenerationalLRU.put`; a :meth:`GenerationalLRU.clear` in between (the data changed)
moves the generation on, and the stale answer is dropped instead of kept. The least recently
used entry goes first once ``max_entries`` are kept.

Used by the credential cache (``crm.credential_cache``) and the SQLite knowledge base's search
cache (``kb.sqlite.cache``), which add what a hit means for them (an age, a search's view).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["GenerationalLRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationalLRU(Generic[K, V]):
    """Thread-safe, bounded map of key -> value; :meth:`clear` forgets every entry and every
    :meth:`put` of a value read before it."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int:
        """Take before reading what will be :meth:`put`."""
        return self._generation

    def clear(self) -> None:
        """Forget everything, and every value being read now: the data changed."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def get(self, key: K, generation: int | None = None) -> tuple[bool, V | None]:
        """(True, value) for a kept ``key``, else (False, None); with a ``generation``, only
        while no :meth:`clear` has happened since it was taken."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return False, None
            if key not in self._entries:
                return False, None
            self._entries.move_to_end(key)
            return True, self._entries[key]

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep ``value``, read since ``generation`` was taken, unless :meth:`clear` came since."""
        with self._lock:
            if generation != self._generation:
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget ``key`` (a value that turned out too old to answer with)."""
        with self._lock:
            self._entries.pop(key, None)
