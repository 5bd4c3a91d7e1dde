"""NER run with the GIL held (enrichment.parser_loop) finds exactly what ``nlp.pipe`` finds."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from enrichment import parser_loop
from enrichment.parser_loop import holds_gil, pipe_holding_gil
from enrichment.pipeline import Enricher

TEXTS = [
    "Tim Cook said the iPhone costs $999 in London and Paris.",
    "flying to new york with delta tomorrow, then boston for the red sox game",
    "",
    "   ",
    "lol",
    "@ParleyHQ my Acme Cloud invoice from Amazon is wrong, Parley support please help",
    "Angela Merkel met Emmanuel Macron at the Elysee Palace on Tuesday 🎉🎉",
    "Mon Tidepool fuit par le bas depuis lundi, merci Carrefour",
    " ".join(["Microsoft and Google and the United Nations met in Geneva."] * 40),
    "x",
]


def entities(docs: Any) -> list[list[tuple[str, str, int, int, str]]]:
    return [[(e.text, e.label_, e.start_char, e.end_char, e.ent_id_) for e in doc.ents] for doc in docs]


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_the_loop_finds_what_nlp_pipe_finds_at_any_batch_size(enricher: Enricher, batch_size: int) -> None:
    nlp = enricher.entities.nlp
    found = entities(pipe_holding_gil(nlp, TEXTS, batch_size))
    assert found == entities(nlp.pipe(TEXTS, batch_size=batch_size))
    assert len(found) == len(TEXTS)
    assert ("Acme Cloud", "ORG", 13, 23, "brand") in found[5]  # the brand ruler ran before NER
    assert ("Tim Cook", "PERSON", 0, 8, "") in found[0]
    assert found[2] == found[3] == []


def test_ner_runs_in_the_loop_and_other_components_in_their_own_pipe(
    enricher: Enricher, monkeypatch: pytest.MonkeyPatch
) -> None:
    nlp = enricher.entities.nlp
    assert nlp.pipe_names == ["entity_ruler", "ner"]
    assert holds_gil(nlp.get_pipe("ner"))
    assert not holds_gil(nlp.get_pipe("entity_ruler"))
    parsed: list[int] = []
    parse = parser_loop.parse_holding_gil

    def counted(parser: Any, docs: list[Any]) -> list[Any]:
        parsed.append(len(docs))
        return parse(parser, docs)

    monkeypatch.setattr(parser_loop, "parse_holding_gil", counted)
    list(pipe_holding_gil(nlp, TEXTS, 8))
    # batches of 8 and 2 texts, each parsed shortest first in sub-batches of 8 // 4
    assert parsed == [2, 2, 2, 2, 2]


def test_a_beam_parser_runs_in_its_own_pipe(enricher: Enricher, monkeypatch: pytest.MonkeyPatch) -> None:
    nlp = enricher.entities.nlp
    ner = nlp.get_pipe("ner")
    monkeypatch.setitem(ner.cfg, "beam_width", 4)  # type: ignore[attr-defined]
    assert not holds_gil(ner)

    def not_for_beams(parser: Any, docs: list[Any]) -> list[Any]:
        raise AssertionError("a beam parser went through the greedy loop")

    monkeypatch.setattr(parser_loop, "parse_holding_gil", not_for_beams)
    assert entities(pipe_holding_gil(nlp, TEXTS[:2], 64)) == entities(nlp.pipe(TEXTS[:2]))


def test_on_real_tweets_the_entities_are_those_of_nlp_pipe(enricher: Enricher, corpora: Path) -> None:
    with (corpora / "text" / "tweeteval" / "sentiment_dev.tsv").open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    nlp = enricher.entities.nlp
    found = entities(pipe_holding_gil(nlp, texts, 64))
    assert found == entities(nlp.pipe(texts, batch_size=64))
    assert len(found) == len(texts) == 2000
    assert sum(map(len, found)) > 2000
