"""enrich(): the batch contract, bad input, retweets, the cache and failure isolation."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

import enrichment
from enrichment import pipeline
from enrichment.pipeline import Enricher
from hub.errors import FatalError
from hub.models import Enrichment
from hub.settings import ENRICHMENT_STEPS, EnrichmentSettings, Settings

from .conftest import FIXTURES, make_message


def test_same_messages_same_order_all_done(enricher: Enricher) -> None:
    batch = [make_message(f"Message number {i} about Parley", native_id=str(i)) for i in range(5)]
    ids = [m.id for m in batch]
    out = enricher.enrich(batch)
    assert [m.id for m in out] == ids
    assert all(a is b for a, b in zip(out, batch, strict=True))
    assert all(m.enrichment.done for m in out)


def test_module_enrich_uses_one_enricher_per_settings(enrichment_settings: EnrichmentSettings) -> None:
    assert enrichment.build_nlp(enrichment_settings) is enrichment.build_nlp(enrichment_settings)
    assert enrichment.enrich([]) == []
    [message] = enrichment.enrich([make_message("Parley is great!")], enrichment_settings)
    assert message.enrichment.done and message.enrichment.sentiment_label == "positive"


BAD_TEXTS = {
    "empty": "",
    "whitespace": " \n\t ",
    "emoji_only": "😂😂🔥🔥👍🏽",
    "fifty_kb": ("Parley support never answers my emails. " * 1300)[:50_000],
    "lone_surrogates": "bad \ud83d half \udc00 low surrogate from Nike",
    "html": "<p>Hello <b>World</b></p><script>alert('x')</script>",
    "nul_and_controls": "a\x00b\x1bc\u202e reversed",
    "only_punctuation": "?!?!... ---",
    "only_url": "https://t.co/Ab12Cd34",
    # Made the URL regex backtrack for minutes before enrichment.twitter_text defused it.
    "dotted_labels": "a." * 2500,
    "unclosed_script": "<script>" * 600,
}


@pytest.mark.parametrize("name", sorted(BAD_TEXTS))
def test_bad_input_never_raises(enricher: Enricher, name: str) -> None:
    message = make_message(BAD_TEXTS[name], native_id=name)
    [out] = enricher.enrich([message])
    result = out.enrichment
    assert result.done
    # Known only for English (or undetermined) text; None, not 0, elsewhere.
    assert (result.sentiment is None) is (result.sentiment_label is None)
    assert result.sentiment is None or -1.0 <= result.sentiment <= 1.0
    assert out.language == result.language
    for entity in result.entities:
        assert out.text[entity.start : entity.end] == entity.text


@pytest.mark.parametrize("name", ["empty", "whitespace", "emoji_only", "only_punctuation", "only_url"])
def test_contentless_input_is_und_and_other(enricher: Enricher, name: str) -> None:
    [out] = enricher.enrich([make_message(BAD_TEXTS[name], native_id=name)])
    assert out.enrichment.language == "und"
    assert out.enrichment.intent == "other"
    assert out.enrichment.entities == []


def test_html_only_fixture_reads_the_words_not_the_markup(enricher: Enricher) -> None:
    text = (FIXTURES / "text__html_only.html").read_text(encoding="utf-8")
    [out] = enricher.enrich([make_message(text, native_id="html")])
    result = out.enrichment
    assert result.language == "en"
    assert result.intent in {"question", "complaint"}
    assert not any("script" in k or "style" in k or "color" in k for k in result.keywords)
    assert all(text[e.start : e.end] == e.text for e in result.entities)
    assert ("Parley", "ORG") in {(e.text, e.label) for e in result.entities}


def test_lone_surrogates_fixture(enricher: Enricher) -> None:
    payload = json.loads((FIXTURES / "tweet__lone_surrogates.json").read_text(encoding="utf-8"))
    [out] = enricher.enrich([make_message(payload["text"], native_id="surrogates")])
    assert out.enrichment.done
    # Entity texts carry U+FFFD where the input had a lone surrogate (those cannot be stored).
    for entity in out.enrichment.entities:
        original = out.text[entity.start : entity.end]
        assert len(original) == len(entity.text)
        assert entity.text == "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in original)
    assert any(e.text == "Nike" for e in out.enrichment.entities)


def test_retweet_fixture_offsets_and_prefix_mention(enricher: Enricher) -> None:
    payload = json.loads((FIXTURES / "tweet__retweet.json").read_text(encoding="utf-8"))
    text = payload["text"]
    [out] = enricher.enrich([make_message(text, native_id="rt")])
    result = out.enrichment
    assert result.mentions == ["acme_fan", "ParleyHQ"]
    assert result.hashtags == ["BlackFriday"]
    assert result.urls == ["https://t.co/Ab12Cd34"]
    assert {(e.text, e.label) for e in result.entities} >= {("@ParleyHQ", "ORG"), ("London", "GPE")}
    for entity in result.entities:
        assert text[entity.start : entity.end] == entity.text


def test_cache_hit_on_retweet_and_copy_paste(enricher: Enricher) -> None:
    enricher.cache.clear()
    original = "Acme Cloud lost my files again, still waiting for support #fail"
    first = enricher.enrich([make_message(original, native_id="o")])
    assert (enricher.cache.hits, enricher.cache.misses) == (0, 1)
    repeats = [
        make_message(f"RT @someone: {original}", native_id="rt"),
        make_message(f"  {original}\n", native_id="paste"),
    ]
    enricher.enrich(repeats[:1])
    enricher.enrich(repeats[1:])
    assert enricher.cache.hits == 2 and enricher.cache.misses == 1
    shifted = repeats[0].enrichment.entities
    assert [e.text for e in shifted] == [e.text for e in first[0].enrichment.entities]
    assert all(repeats[0].text[e.start : e.end] == e.text for e in shifted)
    assert repeats[0].enrichment.mentions == ["someone"]
    # Results are copies: editing one message's fields leaves the cache and the others alone.
    repeats[1].enrichment.hashtags.append("edited")
    assert first[0].enrichment.hashtags == ["fail"]
    assert enricher.enrich([make_message(original, native_id="o2")])[0].enrichment.hashtags == ["fail"]


def test_duplicates_within_a_batch_are_enriched_once(enricher: Enricher) -> None:
    enricher.cache.clear()
    batch = [make_message("Same text from Parley", native_id=str(i)) for i in range(4)]
    enricher.enrich(batch)
    assert enricher.cache.misses == 1 and len(enricher.cache) == 1
    assert len({id(m.enrichment) for m in batch}) == 4


def test_cache_size_zero_disables_the_cache() -> None:
    enricher = Enricher(EnrichmentSettings(cache_size=0, steps=["language"]))
    enricher.enrich([make_message("hello there my friend, how are you")])
    assert len(enricher.cache) == 0


def test_channel_language_hint_is_kept(enricher: Enricher) -> None:
    hinted = make_message("Bonjour, mon colis n'est toujours pas arrivé", native_id="h", language="fr-CA")
    unhinted = make_message("Bonjour, mon colis n'est toujours pas arrivé", native_id="u")
    enricher.enrich([hinted, unhinted])
    assert hinted.language == "fr-CA" and hinted.enrichment.language == "fr"
    assert unhinted.language == "fr"


def test_a_failing_step_costs_only_its_fields(enricher: Enricher, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(enricher: Enricher, works: list[pipeline.Work]) -> None:
        raise RuntimeError("model exploded")

    steps = [(name, broken if name == "sentiment" else step) for name, step in enricher.steps]
    monkeypatch.setattr(enricher, "steps", steps)
    enricher.cache.clear()
    try:
        [out] = enricher.enrich([make_message("I love Parley, thank you!")])
        # A degraded result is used once and not cached: the next copy is tried afresh.
        assert len(enricher.cache) == 0
    finally:
        enricher.cache.clear()
    assert out.enrichment.done
    # The failed group stays unknown, not neutral.
    assert out.enrichment.sentiment is None and out.enrichment.sentiment_label is None
    assert out.enrichment.language == "en"
    assert out.enrichment.intent == "praise"


def test_unknown_step_fails_when_settings_load() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(enrichment={"steps": ["language", "horoscope"]})
    message = str(caught.value)
    assert "horoscope" in message
    assert "known steps: language, keywords, sentiment, intent, entities" in message
    with pytest.raises(ValidationError, match="more than once"):
        EnrichmentSettings(steps=["language", "language"])


def test_settings_and_pipeline_agree_on_the_step_names() -> None:
    assert set(pipeline.STEPS) == set(ENRICHMENT_STEPS)
    assert EnrichmentSettings().steps == list(ENRICHMENT_STEPS)


def test_an_enricher_still_refuses_steps_that_skipped_validation() -> None:
    # model_construct bypasses validators; the Enricher must not run a half-built pipeline.
    unchecked = EnrichmentSettings.model_construct(steps=["language", "horoscope"])
    with pytest.raises(ValueError, match="unknown enrichment steps"):
        Enricher(unchecked)


def test_lingua_without_the_package_is_a_fatal_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "lingua", None)  # what find_spec sees when it is missing
    with pytest.raises(FatalError) as caught:
        enrichment.build_nlp(EnrichmentSettings(language_detector="lingua"))
    assert 'pip install "parley[lingua]"' in str(caught.value)
    # py3langid needs no extra.
    assert enrichment.build_nlp(EnrichmentSettings(language_detector="py3langid")) is not None


def test_the_lingua_extra_is_declared() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert extras["lingua"] == ["lingua-language-detector>=2.0"]
    assert "lingua-language-detector>=2.0" in extras["dev"]


def test_steps_are_configurable(enrichment_settings: EnrichmentSettings) -> None:
    only_language = enrichment_settings.model_copy(update={"steps": ["language"]})
    text = "I love Parley in London, thank you so much! #happy"
    [out] = Enricher(only_language).enrich([make_message(text)])
    result = out.enrichment
    assert result.language == "en" and result.done
    assert result.entities == [] and result.keywords == [] and result.intent is None
    assert result.sentiment is None and result.sentiment_label is None
    # Hashtags, mentions, cashtags and URLs are always extracted: language detection needs them.
    assert result.hashtags == ["happy"]


def test_enrichment_model_defaults_are_not_known() -> None:
    assert Enrichment().language == "und" and not Enrichment().done
    assert Enrichment().sentiment is None and Enrichment().sentiment_label is None
    assert Enrichment().intent is None


def test_sentiment_only_where_a_model_reads_the_language(enricher: Enricher) -> None:
    french = make_message("Mon Tidepool fuit par le bas", native_id="fr")
    hinted = make_message("Der Kundendienst ist furchtbar", native_id="de", language="de")
    japanese = make_message("このアプリは最高です、ありがとう", native_id="ja", language="ja")
    english = make_message("My Tidepool leaks from the bottom, so annoying", native_id="en")
    emoji = make_message("😡😡", native_id="und")
    enricher.enrich([french, hinted, japanese, english, emoji])
    for message in (french, hinted, japanese):
        # Unknown, not neutral: no English words read into French, German or Japanese.
        assert message.enrichment.sentiment is None and message.enrichment.sentiment_label is None
    assert french.enrichment.language == "fr"
    assert english.enrichment.sentiment_label == "negative" and english.enrichment.sentiment is not None
    # Too short to tell the language: read as the streams' commonest language, English.
    assert emoji.enrichment.language == "und" and emoji.enrichment.sentiment_label == "negative"
    # Intent cues exist for French and German, not for Japanese.
    assert french.enrichment.intent is not None and hinted.enrichment.intent is not None
    assert japanese.enrichment.intent is None and japanese.enrichment.intent_confidence == 0.0


def test_the_lexicon_scorer_can_be_chosen(enrichment_settings: EnrichmentSettings) -> None:
    lexicon = enrichment_settings.model_copy(update={"sentiment_model": "lexicon"})
    english, french = (
        make_message("Parley is great!", native_id="1"),
        make_message("Parley est génial", "2", "fr"),
    )
    Enricher(lexicon).enrich([english, french])
    assert english.enrichment.sentiment_label == "positive"
    assert french.enrichment.sentiment is None


def test_regional_hint_counts_as_its_language(enricher: Enricher) -> None:
    british = make_message("Tim Cook opened the new Apple store in London", native_id="gb", language="en-GB")
    canadian = make_message("Le service de Montréal est vraiment nul", native_id="ca", language="fr-CA")
    enricher.enrich([british, canadian])
    assert british.language == "en-GB" and british.enrichment.entities
    assert canadian.enrichment.entities == []
    assert "service" not in canadian.enrichment.keywords or "de" not in canadian.enrichment.keywords


def test_importing_enrichment_loads_no_model() -> None:
    code = (
        "import sys, enrichment; enrichment.build_nlp();"
        "heavy = {'spacy', 'vaderSentiment', 'py3langid', 'lingua'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2], timeout=60)


def test_ner_can_be_switched_off(enrichment_settings: EnrichmentSettings) -> None:
    enricher = Enricher(enrichment_settings.model_copy(update={"ner": False}))
    [out] = enricher.enrich([make_message("Tim Cook opened the Apple store in London")])
    assert out.enrichment.entities == [] and out.enrichment.language == "en"
    assert enricher._entities is None  # the spaCy model was never loaded
