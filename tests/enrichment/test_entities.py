"""Entities: hashtags stay whole, the brand ruler runs before NER, junk is dropped."""

from __future__ import annotations

import pytest

from enrichment.entities import UNUSED_PIPES, _compact
from enrichment.pipeline import Enricher
from hub.models import Entity

from .conftest import make_message


def _entities(enricher: Enricher, text: str, native_id: str = "e") -> set[tuple[str, str]]:
    [out] = enricher.enrich([make_message(text, native_id=native_id)])
    for entity in out.enrichment.entities:
        assert text[entity.start : entity.end] == entity.text
    return {(e.text, e.label) for e in out.enrichment.entities}


def test_only_needed_pipes_run(enricher: Enricher) -> None:
    names = enricher.entities.nlp.pipe_names
    assert names == ["entity_ruler", "ner"]
    assert not set(names) & set(UNUSED_PIPES)
    assert enricher.entities.nlp.get_pipe_meta("entity_ruler") is not None


def test_hashtags_are_whole_tokens_and_never_entities(enricher: Enricher) -> None:
    doc = enricher.entities.nlp.tokenizer("Ready for #BlackFriday and #1 deals #SamSmith")
    assert "#BlackFriday" in [t.text for t in doc]
    assert "#SamSmith" in [t.text for t in doc]
    found = _entities(enricher, "Ready for #BlackFriday and #1 deals with #SamSmith in London")
    assert ("London", "GPE") in found
    assert not any(text.startswith("#") or label == "CARDINAL" for text, label in found)
    assert not any("BlackFriday" in text or "SamSmith" in text for text, _ in found)


def test_brand_ruler_tags_brands_and_handles_case_insensitively(enricher: Enricher) -> None:
    found = _entities(enricher, "honestly parley beats everything, ask @ParleyHQ or Acme Cloud")
    assert ("parley", "ORG") in found
    assert ("@ParleyHQ", "ORG") in found
    assert ("Acme Cloud", "ORG") in found


def test_brand_label_is_configurable(enricher: Enricher) -> None:
    settings = enricher.settings.model_copy(update={"brand_label": "BRAND", "cache_size": 0})
    found = Enricher(settings, enricher.brand).enrich([make_message("Parley rocks", native_id="b")])
    found = found[0].enrichment.entities
    assert [(e.text, e.label) for e in found] == [("Parley", "BRAND")]


def test_statistical_entities_persons_places_money(enricher: Enricher) -> None:
    found = _entities(enricher, "Tim Cook said the iPhone costs $999 in London and Paris.")
    labels = {label for _, label in found}
    assert ("Tim Cook", "PERSON") in found
    assert ("$999", "MONEY") in found
    assert {"GPE", "MONEY"} <= labels
    assert not labels & {"CARDINAL", "DATE", "ORDINAL", "TIME", "PERCENT", "QUANTITY"}


def test_urls_mentions_cashtags_are_not_entities(enricher: Enricher) -> None:
    found = _entities(enricher, "Buying $AAPL now http://t.co/Ab12 says @TimCook from Apple")
    assert not any(text.startswith(("$", "@", "http")) for text, _ in found)


def test_non_english_skips_english_ner(enricher: Enricher, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = enricher.entities.recognise

    def spy(texts: list[str], protected: list[list[tuple[int, int]]]) -> list[list[Entity]]:
        seen.extend(texts)
        return original(texts, protected)

    monkeypatch.setattr(enricher.entities, "recognise", spy)
    german = make_message("Der Kundenservice von Siemens in Berlin ist wirklich schlecht", native_id="de")
    english = make_message("The customer service of Siemens in Berlin is really bad", native_id="en")
    hinted = make_message(
        "Siemens in Berlin is really bad today, I am so annoyed", native_id="h", language="de"
    )
    enricher.enrich([german, english, hinted])
    assert german.enrichment.language == "de" and german.enrichment.entities == []
    assert english.enrichment.entities
    assert hinted.enrichment.entities == []  # the channel said German: English NER stays off
    assert seen == [english.text]
    # Non-English messages still get keywords, sentiment where possible, and intent.
    assert german.enrichment.keywords and german.enrichment.intent == "complaint"


def test_lower_case_names_still_reach_the_model(enricher: Enricher) -> None:
    assert enricher.entities.worth_running("saw david bowie in nyc tonight")
    assert not enricher.entities.worth_running("lol omg yes   ")
    assert enricher.entities.worth_running("paid 20 bucks")


def test_compaction_maps_offsets_back() -> None:
    text = "RT #x  Tim   Cook @y visits Paris 😂"
    compact = _compact(text, [(3, 5), (17, 19), (34, 35)])
    assert "#x" not in compact.text and "@y" not in compact.text
    start = compact.text.index("Paris")
    assert compact.original(start, start + 5) == (text.index("Paris"), text.index("Paris") + 5)
    # A span that straddles a cut does not map: it would glue text across a hashtag.
    assert compact.original(0, len(compact.text)) is None


def test_a_flow_process_limits_its_blas_to_the_configured_threads(enricher: Enricher) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    from enrichment.entities import limit_blas_threads

    def threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    with threadpool_limits(2, user_api="blas"):  # restores this test process's own on exit
        assert threads() == {2}
        limit_blas_threads(enricher.settings)
        assert threads() == {1}
        limit_blas_threads(enricher.settings.model_copy(update={"blas_threads": 3}))
        assert threads() == {3}


def test_ner_runs_on_numpy_blas_with_the_same_entities_as_on_blis(enricher: Enricher) -> None:
    from thinc.api import NumpyOps

    from enrichment.entities import load_spacy

    ner = enricher.entities.nlp.get_pipe("ner")
    assert isinstance(ner.model.ops, NumpyOps) and not ner.model.ops.use_blis  # type: ignore[attr-defined]

    on_blis = load_spacy(enricher.settings.model_copy(update={"use_blis": True}), enricher.brand)
    assert on_blis.get_pipe("ner").model.ops.use_blis  # type: ignore[attr-defined]
    texts = [
        "Tim Cook said the iPhone costs $999 in London and Paris.",
        "flying to new york with delta tomorrow, then boston for the red sox game",
        "Angela Merkel met Emmanuel Macron at the Elysee Palace on Tuesday",
    ]
    found = [[(e.text, e.label_) for e in doc.ents] for doc in enricher.entities.nlp.pipe(texts)]
    assert found == [[(e.text, e.label_) for e in doc.ents] for doc in on_blis.pipe(texts)]
    assert all(found)
