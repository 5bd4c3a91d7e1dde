"""Sentiment candidates side by side: (a) dev macro-recall, (b) held-out-year macro-recall, msgs/s.

    .venv/bin/python bench/sentiment.py                    # every candidate (a few minutes)
    .venv/bin/python bench/sentiment.py --only vader,lexicon,classifier

(a) is macro-recall on TweetEval's sentiment dev split (2,000 tweets) of a candidate trained
on all of ``semeval_twitter/train.tsv`` (the dev tweets were removed from it); (b) is
macro-recall on the ``twitter-2016test-A`` rows (19,566 tweets) of the same candidate trained
on every other row: a year it never saw. Lexicons are not trained, so they are just scored on
both. msgs/s is the best of three passes over the dev texts in batches of 256, on one core,
model load excluded (printed apart).

Candidates:

* ``vader``: stock VADER, the authors' +-0.05 neutral threshold;
* ``lexicon``: Parley's tuned VADER (emoji, slang, +-0.3 neutral band), ``sentiment_model = "lexicon"``;
* ``ngram_lr``: the usual baseline, scikit-learn TF-IDF word 1-2-grams + char_wb 2-5-grams
  and logistic regression, without and with balanced class weights;
* ``fasttext``: fastText supervised (word bigrams, char 2-5-grams, 50 dimensions, 10 epochs)
  on Parley's tokens, its probabilities divided by the class priors (the balanced decision);
  only when ``fasttext`` is importable (``pip install fasttext-numpy2``), else skipped;
* ``classifier``: Parley's model (``tools/train_sentiment.py``): the same n-grams plus
  negation-marked unigrams and lexicon/style features, one balanced binary logistic regression
  per class over naive-Bayes-scaled features (NB-LR), run by our numpy inference;
  ``classifier_no_lexicon`` drops the dense lexicon features (an ablation) and
  ``classifier_multinomial`` is the previous model (one multinomial regression, unscaled).

Needs the corpora (``../shared/corpora``) and the ``dev`` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from enrichment.sentiment import SentimentScorer
from enrichment.sentiment_features import tokenize
from enrichment.sentiment_model import CLASSES, SentimentModel
from tools.train_sentiment import (
    DEV,
    HELD_OUT_SPLIT,
    TRAIN,
    Params,
    Row,
    macro_recall,
    read_rows,
    train,
)

Labeller = Callable[[Sequence[str]], list[str]]
#: a candidate: rows to train on -> a batch labeller (lexicons ignore the rows)
Candidate = Callable[[Sequence[Row]], Labeller]


def vader(_: Sequence[Row]) -> Labeller:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def label(texts: Sequence[str]) -> list[str]:
        out: list[str] = []
        for text in texts:
            compound = analyzer.polarity_scores(text)["compound"]
            out.append("positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral")
        return out

    return label


def lexicon(_: Sequence[Row]) -> Labeller:
    scorer = SentimentScorer(neutral_band=0.3)
    return lambda texts: [label for _, label in scorer.score_batch(texts)]


def ngram_lr(balanced: bool) -> Candidate:
    def build(rows: Sequence[Row]) -> Labeller:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        texts = [text for _, _, text in rows]
        matrix = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        model = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced" if balanced else None).fit(
            matrix, [label for _, label, _ in rows]
        )

        def label(batch: Sequence[str]) -> list[str]:
            features = hstack([words.transform(batch), chars.transform(batch)]).tocsr()
            return [str(p) for p in model.predict(features)]

        return label

    return build


def fasttext_candidate(rows: Sequence[Row]) -> Labeller:
    import fasttext

    def prepare(text: str) -> str:
        tokens = tokenize(text)
        return " ".join(f"{w}_neg" if n else w for w, n in zip(tokens.words, tokens.negated, strict=True))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.txt"
        # SGD over rows sorted by label learns nothing: a fixed pseudo-random order instead.
        ordered = sorted(rows, key=lambda r: hashlib.sha1(r[2].encode("utf-8")).hexdigest())
        path.write_text("".join(f"__label__{label} {prepare(text)}\n" for _, label, text in ordered))
        model = fasttext.train_supervised(
            str(path), dim=50, epoch=10, lr=0.2, wordNgrams=2, minn=2, maxn=5, thread=1, seed=1, verbose=0
        )
    prior = np.array([sum(label == c for _, label, _ in rows) for c in CLASSES], dtype=float) / len(rows)

    def label(texts: Sequence[str]) -> list[str]:
        out: list[str] = []
        for text in texts:
            names, probabilities = model.predict(prepare(text), k=len(CLASSES))
            found = dict(zip((n.removeprefix("__label__") for n in names), probabilities, strict=True))
            balanced = np.array([found.get(c, 1e-9) for c in CLASSES]) / prior
            out.append(CLASSES[int(balanced.argmax())])
        return out

    return label


def classifier(**overrides: Any) -> Candidate:
    def build(rows: Sequence[Row]) -> Labeller:
        model = SentimentModel(train(rows, replace(Params(), **overrides)))
        return lambda texts: [label for _, label in model.score_batch(texts)]

    return build


CANDIDATES: dict[str, Candidate] = {
    "vader": vader,
    "lexicon": lexicon,
    "ngram_lr": ngram_lr(balanced=False),
    "ngram_lr_balanced": ngram_lr(balanced=True),
    "fasttext": fasttext_candidate,
    "classifier_multinomial": classifier(model="lr", c=1.0),
    "classifier_no_lexicon": classifier(dense_weight=0.0),
    "classifier": classifier(),
}


def throughput(label: Labeller, texts: Sequence[str], batch: int = 256) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            label(texts[start : start + batch])
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    args = parser.parse_args(argv)
    if not (TRAIN.is_file() and DEV.is_file()):
        print(f"corpora not found ({TRAIN}, {DEV}): nothing to measure")
        return 0
    names = [n for n in args.only.split(",") if n] or list(CANDIDATES)
    rows, dev = read_rows(TRAIN), read_rows(DEV)
    held_in = [r for r in rows if r[0] != HELD_OUT_SPLIT]
    held_out = [r for r in rows if r[0] == HELD_OUT_SPLIT]
    dev_texts = [text for _, _, text in dev]
    print(f"train {len(rows)} rows; dev {len(dev)}; held out {HELD_OUT_SPLIT}: {len(held_out)} rows")
    print(f"{'candidate':<24}{'(a) dev':>9}{'(b) 2016':>10}{'msgs/s':>10}{'build s':>9}")
    for name in names:
        build = CANDIDATES[name]
        if name == "fasttext" and importlib.util.find_spec("fasttext") is None:
            print(f"{name:<24}skipped: pip install fasttext-numpy2 to measure it")
            continue
        started = time.perf_counter()
        on_all = build(rows)
        built = time.perf_counter() - started
        a = macro_recall([label for _, label, _ in dev], on_all(dev_texts))
        b = macro_recall([label for _, label, _ in held_out], build(held_in)([t for _, _, t in held_out]))
        rate = throughput(on_all, dev_texts)
        print(f"{name:<24}{a:>9.4f}{b:>10.4f}{rate:>10.0f}{built:>9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
