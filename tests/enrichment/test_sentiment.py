"""The lexicon scorer tuned for social text: emoji, slang, negation (English only)."""

from __future__ import annotations

import pytest

from enrichment.sentiment import SentimentScorer


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return SentimentScorer(neutral_band=0.3)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("this new album is lit 🔥🔥", "positive"),
        ("worst service ever, total scam 😡", "negative"),
        ("not bad at all, really happy with it", "positive"),
        ("the update is not good", "negative"),
        ("my order is a ripoff smh", "negative"),
        ("store opens at 9", "neutral"),
        ("😭😭 still no refund", "negative"),
        ("tysm, you're the goat", "positive"),
    ],
)
def test_social_text(scorer: SentimentScorer, text: str, label: str) -> None:
    score, got = scorer.score(text)
    assert got == label, (text, score)
    assert -1.0 <= score <= 1.0


def test_score_batch_is_score_per_text(scorer: SentimentScorer) -> None:
    texts = ["worst service ever", "lit 🔥", ""]
    assert scorer.score_batch(texts) == [scorer.score(text) for text in texts]


def test_neutral_band(scorer: SentimentScorer) -> None:
    assert scorer.label(0.29) == "neutral" and scorer.label(0.3) == "positive"
    assert scorer.label(-0.3) == "negative"
    assert scorer.score("") == (0.0, "neutral")
