"""The cache under the credential and search caches: bounded, least recently used first, and
never keeping an answer read before the data changed."""

from __future__ import annotations

from hub.generational_lru import GenerationalLRU


def test_an_answer_read_before_a_clear_is_not_kept() -> None:
    cache: GenerationalLRU[str, int] = GenerationalLRU(4)
    started = cache.generation  # a reader starts ...
    cache.clear()  # ... the data changes meanwhile
    cache.put("k", 1, started)
    assert cache.get("k") == (False, None) and len(cache) == 0
    cache.put("k", 2, cache.generation)
    assert cache.get("k") == (True, 2)


def test_a_reader_of_an_older_generation_gets_no_newer_answer() -> None:
    cache: GenerationalLRU[str, int] = GenerationalLRU(4)
    old = cache.generation
    cache.clear()
    cache.put("k", 1, cache.generation)
    assert cache.get("k", old) == (False, None)
    assert cache.get("k", cache.generation) == (True, 1)
    assert cache.get("k") == (True, 1)


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: GenerationalLRU[str, int] = GenerationalLRU(2)
    cache.put("a", 1, cache.generation)
    cache.put("b", 2, cache.generation)
    assert cache.get("a") == (True, 1)  # now "b" is the least recently used
    cache.put("c", 3, cache.generation)
    assert len(cache) == 2
    assert cache.get("b") == (False, None)
    assert cache.get("a") == (True, 1) and cache.get("c") == (True, 3)
    cache.discard("a")
    cache.discard("missing")
    assert cache.get("a") == (False, None) and len(cache) == 1
