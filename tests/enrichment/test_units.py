"""The small pure helpers: LRU cache, text cleaning, core text, masking."""

from __future__ import annotations

from enrichment.cache import LRUCache
from enrichment.text import clean, core_text, looks_like_html, mask_spans, mask_tags


def test_lru_is_bounded_and_evicts_least_recent() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and "a" in cache and len(cache) == 2
    assert cache.get("b") is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_core_text_strips_retweet_prefixes() -> None:
    assert core_text("RT @ann: Great #launch") == ("Great #launch", 9)
    assert core_text("rt @a: RT @b_c: hi") == ("hi", 16)
    assert core_text("  hello \n") == ("hello", 2)
    assert core_text("Artemis launch") == ("Artemis launch", 0)
    assert core_text("") == ("", 0)


def test_clean_keeps_length_and_cuts_long_text() -> None:
    assert clean("a\ud800b", 100) == "a\ufffdb"
    assert len(clean("x" * 50_000, 5000)) == 5000


def test_masking_keeps_offsets() -> None:
    assert mask_spans("hi @bob #x ok", [(3, 7), (8, 10)]) == "hi" + " " * 9 + "ok"
    html = "<p>Hi <b>there</b></p>"
    assert len(mask_tags(html)) == len(html) and mask_tags(html).split() == ["Hi", "there"]
    assert looks_like_html(html) and not looks_like_html("2 < 3 > 1")
