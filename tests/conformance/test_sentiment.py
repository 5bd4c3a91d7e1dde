"""Sentiment quality on TweetEval's sentiment dev split (2,000 labelled tweets).

Prints macro-F1 and accuracy for Parley's scorer and for stock VADER on the same tweets
(run with ``-s`` to see them). Skips cleanly without the corpora.

The floor: stock VADER with its authors' ±0.05 neutral threshold scores macro-F1 0.560 /
accuracy 0.573 here (measured when this test was written); TweetEval's published baselines
for lexicon-free models start around 0.5 macro-recall. Parley's scorer (VADER + social
lexicon + a ±0.3 neutral band, chosen on this split) measured 0.585 / 0.602. The test fails
below 0.55 macro-F1 or 0.56 accuracy: i.e. if a change makes us worse than the stock baseline
we set out to beat or keep, beyond a one-point tolerance for lexicon tweaks.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from enrichment.sentiment import SentimentScorer
from hub.settings import EnrichmentSettings

DEV = "text/tweeteval/sentiment_dev.tsv"
LABELS = ("negative", "neutral", "positive")
MACRO_F1_FLOOR = 0.55
ACCURACY_FLOOR = 0.56


def _rows(corpora: Path) -> list[tuple[str, str]]:
    path = corpora / DEV
    if not path.is_file():
        pytest.skip(f"{path} not found")
    # Columns: split, label, text; tweets contain quotes, so no CSV quoting.
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [
            (r["label"], r["text"]) for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    assert rows and all(label in LABELS for label, _ in rows), "unexpected file format"
    return rows


def macro_f1_and_accuracy(gold: list[str], predicted: list[str]) -> tuple[float, float]:
    """Macro-F1 over the labels present in gold or predicted (a label absent from both says
    nothing about the scorer, so it must not count as F1 = 0), and accuracy."""
    pairs = list(zip(gold, predicted, strict=True))
    scores = []
    for label in sorted(set(gold) | set(predicted)):
        tp = sum(g == p == label for g, p in pairs)
        fp = sum(p == label != g for g, p in pairs)
        fn = sum(g == label != p for g, p in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    accuracy = sum(g == p for g, p in pairs) / len(pairs)
    return sum(scores) / len(scores), accuracy


def test_macro_f1_metric() -> None:
    # A perfect prediction of two classes is perfect, whatever labels the task could have had.
    assert macro_f1_and_accuracy(["positive", "negative"], ["positive", "negative"]) == (1.0, 1.0)
    # neutral: precision 1/2, recall 1 -> 2/3; positive: 0; negative absent from both: not counted.
    f1, accuracy = macro_f1_and_accuracy(["positive", "neutral"], ["neutral", "neutral"])
    assert accuracy == 0.5 and f1 == pytest.approx((0 + 2 / 3) / 2)
    # A class only predicted (a false alarm) does count, as F1 = 0.
    f1, _ = macro_f1_and_accuracy(["neutral", "neutral"], ["neutral", "negative"])
    assert f1 == pytest.approx((2 / 3 + 0) / 2)


def test_tweeteval_sentiment_dev(corpora: Path) -> None:
    rows = _rows(corpora)
    gold = [label for label, _ in rows]
    ours = SentimentScorer(EnrichmentSettings().sentiment_neutral_band)
    vader = SentimentIntensityAnalyzer()

    def stock_label(text: str) -> str:
        compound = vader.polarity_scores(text)["compound"]
        return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"

    f1, accuracy = macro_f1_and_accuracy(gold, [ours.score(text)[1] for _, text in rows])
    base_f1, base_accuracy = macro_f1_and_accuracy(gold, [stock_label(text) for _, text in rows])
    print(
        f"\nTweetEval sentiment dev ({len(rows)} tweets): parley macro-F1 {f1:.3f} accuracy {accuracy:.3f};"
        f" stock VADER macro-F1 {base_f1:.3f} accuracy {base_accuracy:.3f}"
    )
    assert f1 >= MACRO_F1_FLOOR, f"macro-F1 {f1:.3f} fell below the floor {MACRO_F1_FLOOR}"
    assert accuracy >= ACCURACY_FLOOR, f"accuracy {accuracy:.3f} fell below the floor {ACCURACY_FLOOR}"
