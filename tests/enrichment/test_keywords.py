"""Keywords: twitter-text fields as stored, and key phrases."""

from __future__ import annotations

from enrichment.keywords import key_phrases, stop_words
from enrichment.pipeline import Enricher

from .conftest import make_message


def test_fields_are_stored_as_written_without_signs(enricher: Enricher) -> None:
    text = "RT @Ann_B: #BlackFriday deals on $TSLA at https://example.com/x ＃日本語 @bob"
    [out] = enricher.enrich([make_message(text, native_id="kw")])
    result = out.enrichment
    assert result.hashtags == ["BlackFriday", "日本語"]
    assert result.mentions == ["Ann_B", "bob"]
    assert result.cashtags == ["TSLA"]
    assert result.urls == ["https://example.com/x"]


def test_hashtag_inside_url_is_not_a_hashtag(enricher: Enricher) -> None:
    [out] = enricher.enrich([make_message("see https://example.com/page#section now", native_id="u")])
    assert out.enrichment.hashtags == []
    assert out.enrichment.urls == ["https://example.com/page#section"]


def test_key_phrases_skip_stop_words_and_filler() -> None:
    phrases = key_phrases("lol the battery life of this phone is terrible omg", "en", 5)
    assert "battery life" in phrases
    assert not {"lol", "omg", "the", "is"} & set(phrases)
    assert key_phrases("", "en", 5) == [] and key_phrases("battery life", "en", 0) == []


def test_key_phrases_use_the_message_language() -> None:
    assert "pedido" in " ".join(key_phrases("mi pedido todavía no ha llegado", "es", 5))
    assert "que" in stop_words("es") and "und" not in stop_words("und")


def test_keywords_limit(enricher: Enricher) -> None:
    text = "battery life, screen quality, camera zoom, charging speed, speaker volume, fingerprint reader"
    [out] = enricher.enrich([make_message(text, native_id="lim")])
    assert 0 < len(out.enrichment.keywords) <= enricher.settings.max_keywords
