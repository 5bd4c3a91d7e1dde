"""The shipped sentiment classifier: features, deterministic inference, and its model card."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from enrichment.sentiment_features import char_ngrams, dense_features, tokenize, word_features
from enrichment.sentiment_model import CLASSES, DEFAULT_MODEL, SentimentModel


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load()


def test_tokens_normalise_urls_mentions_digits_and_elongation() -> None:
    tokens = tokenize("@Bob sooooo GOOD!!! see https://t.co/x 2day :)")
    assert tokens.words == ["xuser", "soo", "good", "!!!", "see", "xurl", "0day", ":)"]
    assert tokens.shouting == 1 and tokens.elongated == 1


def test_negation_scope_ends_at_clause_punctuation() -> None:
    tokens = tokenize("I don't like it, but fine")
    assert [w for w, neg in zip(tokens.words, tokens.negated, strict=True) if neg] == ["like", "it"]
    assert "w:like_neg" in word_features(tokens) and "w:fine" in word_features(tokens)
    assert "b:don't like" in word_features(tokens)


def test_char_ngrams_are_padded_and_bounded() -> None:
    grams = char_ngrams("ok")
    assert grams == ["c: o", "c:ok", "c:k ", "c: ok", "c:ok ", "c: ok "]


def test_dense_features_flip_negated_valence() -> None:
    valence = {"good": 1.9}
    plain = dense_features(tokenize("good"), valence)
    negated = dense_features(tokenize("not good"), valence)
    assert plain[0] > 0 and plain[1] == 0  # positive valence, no negative
    assert negated[0] == 0 and negated[1] > 0  # "not good" reads negative


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this phone, best purchase ever :)", "positive"),
        ("Worst customer service ever. I hate this company", "negative"),
        ("The store opens at 9am on Monday", "neutral"),
        ("this new album is lit 🔥🔥", "positive"),
        ("still no refund, total scam 😡😡", "negative"),
        ("not good at all, really disappointed", "negative"),
        ("not bad at all, really happy with it", "positive"),
    ],
)
def test_labels(model: SentimentModel, text: str, label: str) -> None:
    [(score, got)] = model.score_batch([text])
    assert got == label, (text, score)


def test_score_is_p_positive_minus_p_negative(model: SentimentModel) -> None:
    texts = ["great game tonight!", "so sad about the news", "meeting at 3", "", "🙂", "x" * 3000]
    probabilities = model.predict(texts)
    assert probabilities.shape == (len(texts), len(CLASSES))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    for p, (score, label) in zip(probabilities, model.score_batch(texts), strict=True):
        assert -1.0 <= score <= 1.0
        assert score == pytest.approx(p[2] - p[0])
        assert label == CLASSES[int(p.argmax())]


def test_inference_is_deterministic_and_independent_of_the_batch(model: SentimentModel) -> None:
    texts = ["love it", "hate it hate it", "the bus is late again smh", "Mon Tidepool fuit par le bas"]
    together = model.score_batch(texts)
    alone = [model.score_batch([text])[0] for text in texts]
    assert together == alone == model.score_batch(texts)
    assert model.score_batch([]) == []


def test_model_card_matches_the_shipped_file() -> None:
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["file_sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    assert card["classes"] == list(CLASSES)
    # "small: a few MB" ships in the wheel
    assert DEFAULT_MODEL.stat().st_size < 5_000_000


def test_a_model_from_other_features_is_refused(model: SentimentModel) -> None:
    with np.load(DEFAULT_MODEL, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["features_version"] = np.array(999)
    with pytest.raises(ValueError, match="retrain"):
        SentimentModel(arrays)


def test_cached_columns_are_the_feature_functions_columns(model: SentimentModel) -> None:
    # Inference looks features up through per-token caches; training builds the vocabulary
    # from word_features and char_ngrams. Both must give the same TF-IDF values.
    featurizer = model.featurizer
    texts = ["I don't like #Mondays but LOVE coffee!!! :) @bob http://x.co", "#fail #fail not not good"]
    batch = featurizer.transform(texts)
    for row, text in enumerate(texts):
        tokens = tokenize(text)
        names = word_features(tokens) + [g for w in tokens.words for g in char_ngrams(w)]
        counts: dict[int, int] = {}
        for name in names:
            column = featurizer.column(name)
            if column >= 0:
                counts[column] = counts.get(column, 0) + 1
        expected = {c: (1 + math.log(n)) * featurizer.idf[c] for c, n in counts.items()}
        for block in (0, 1):
            norm = math.sqrt(sum(v * v for c, v in expected.items() if featurizer.block[c] == block))
            expected.update({c: v / norm for c, v in expected.items() if featurizer.block[c] == block})
        mine = batch.rows == row
        got = dict(zip(batch.cols[mine].tolist(), batch.values[mine].tolist(), strict=True))
        assert got.keys() == expected.keys()
        assert all(got[c] == pytest.approx(v) for c, v in expected.items())
