"""The trained sentiment classifier: a linear model over n-gram, character and lexicon features.

The model is a linear scorer per class (one balanced binary logistic regression per class over
naive-Bayes-scaled features, the scaling folded into its weights) trained by
``tools/train_sentiment.py`` on the SemEval Twitter corpus and shipped as
``enrichment/models/sentiment-en.npz`` (numpy arrays only, loaded with ``allow_pickle=False``:
loading runs no code from the file) beside a JSON card with its version, training data hash
and scores. Inference is our own numpy code:

1. :mod:`enrichment.sentiment_features` turns each text into word, bigram and character
   n-gram names and a few dense lexicon/style values;
2. names map to columns through the shipped vocabulary (unknown names are dropped); values are
   TF-IDF (``(1 + log count) * idf``), L2-normalised separately for the word block and the
   character block, exactly as in training;
3. ``logits = x @ W + standardised(dense) @ W_dense + bias``; ``bias`` includes class offsets tuned for
   macro-recall. Probabilities are the softmax of the three logits (a confidence, not a
   calibrated probability: the per-class scorers are trained one against the rest); the label
   is the argmax over negative/neutral/positive; the score is ``P(positive) - P(negative)``
   in [-1, 1].

Character n-gram columns depend only on the token, so they are cached per token; a batch is
scored with a handful of vectorised numpy calls.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from enrichment.sentiment_features import (
    DENSE_NAMES,
    FEATURES_VERSION,
    char_ngrams,
    dense_features,
    tokenize,
)
from hub.models import SentimentLabel

__all__ = ["CLASSES", "DEFAULT_MODEL", "Featurizer", "SentimentModel", "SparseBatch"]

#: class order of every probability row and weight column
CLASSES: tuple[SentimentLabel, SentimentLabel, SentimentLabel] = ("negative", "neutral", "positive")
DEFAULT_MODEL = Path(__file__).parent / "models" / "sentiment-en.npz"
_CHAR_BLOCK = 1
#: tokens whose columns are cached (about 250 bytes each); word frequencies fall fast, so
#: 20,000 hold the tokens of most texts and keep the cache near 5 MB
_TOKEN_CACHE_LIMIT = 20_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SparseBatch:
    """A batch's TF-IDF features as coordinate arrays (row, column, value) plus dense rows."""

    __slots__ = ("cols", "dense", "n_rows", "rows", "values")

    def __init__(self, rows: IntArray, cols: IntArray, values: FloatArray, dense: FloatArray) -> None:
        self.rows, self.cols, self.values, self.dense = rows, cols, values, dense
        self.n_rows = int(dense.shape[0])


class _HashedColumns:
    """Keys -> columns without keeping the keys: their ``hash()`` values, sorted, beside the columns.

    The vocabulary's strings in dicts cost about 55 MB of a process for 212,000 names; the
    hashes and columns cost 16 bytes a name. ``hash()`` is salted per process, so the table is
    built at load time, never stored. A text's key whose 64-bit hash equals a vocabulary key's
    without being it would borrow that column: with 212,000 keys that is about one lookup in
    10**14, far below any effect on a score.
    """

    __slots__ = ("_columns", "_hashes")

    def __init__(self, hashes: array[int], columns: array[int]) -> None:
        keys = np.frombuffer(hashes, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self._hashes = keys[order]
        self._columns = np.frombuffer(columns, dtype=np.int64)[order]
        if self._hashes.size > 1 and bool(np.any(self._hashes[1:] == self._hashes[:-1])):
            raise ValueError("two sentiment vocabulary names share a hash; retrain or report it")

    def lookup(self, hashes: IntArray) -> IntArray:
        """The column of each hash, -1 where the vocabulary has none."""
        if not self._hashes.size or not hashes.size:
            return np.full(hashes.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._hashes, hashes), self._hashes.size - 1)
        return np.where(self._hashes[at] == hashes, self._columns[at], -1)

    def get(self, key: object) -> int:
        return int(self.lookup(np.array([hash(key)], dtype=np.int64))[0])


def _token_keys(token: str) -> list[str]:
    """The vocabulary names a token may bring: its unigram, its negated unigram, its character
    n-grams and, for a hashtag, its word's unigram (the first two always in that order)."""
    keys = [f"w:{token}", f"w:{token}_neg", *char_ngrams(token)]
    if len(token) > 1 and token[0] == "#":
        keys.append(f"w:{token[1:]}")
    return keys


class Featurizer:
    """Texts -> :class:`SparseBatch` for a fixed vocabulary, idf vector and valence table."""

    def __init__(self, vocabulary: Iterable[str], idf: FloatArray, valence: Mapping[str, float]) -> None:
        self.idf = np.asarray(idf, dtype=np.float64)
        self.valence = dict(valence)
        # One pass over the names, kept only as hashes in typed arrays: a list of 212,000
        # names (and of their hashes as Python ints) would be freed again, but only after
        # fragmenting the heap by some 20 MB that the process never gives back.
        block = array("b")
        # Bigrams keyed by token pairs: hashing a tuple of already-hashed strings is cheaper
        # than building and hashing "b:first second" for every pair of every text.
        names: tuple[array[int], array[int]] = (array("q"), array("q"))
        pairs: tuple[array[int], array[int]] = (array("q"), array("q"))
        for i, name in enumerate(vocabulary):
            block.append(name.startswith("c:"))
            if name.startswith("b:"):
                first, _, second = name[2:].partition(" ")
                pairs[0].append(hash((first, second)))
                pairs[1].append(i)
            else:
                names[0].append(hash(name))
                names[1].append(i)
        self.width = len(block)
        self.block = np.frombuffer(block, dtype=np.int8)
        self._names = _HashedColumns(*names)
        self._bigrams = _HashedColumns(*pairs)
        #: token -> (unigram column, negated unigram column, char n-gram columns plus, for a
        #: hashtag, its word's unigram column, as an array); -1: unknown
        self._token_columns: dict[str, tuple[int, int, IntArray]] = {}

    def column(self, name: str) -> int:
        """The column of a feature name (``w:``, ``b:``, ``c:``); -1 if not in the vocabulary."""
        if name.startswith("b:"):
            first, _, second = name[2:].partition(" ")
            return self._bigrams.get((first, second))
        return self._names.get(name)

    def _columns(self, token: str) -> tuple[int, int, IntArray]:
        found = self._token_columns.get(token)
        if found is None:
            keys = _token_keys(token)
            columns = self._names.lookup(np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys)))
            always = columns[2:]
            found = (int(columns[0]), int(columns[1]), always[always >= 0])
            if len(self._token_columns) >= _TOKEN_CACHE_LIMIT:
                self._token_columns.clear()  # a crude bound; tokens repeat, so it refills fast
            self._token_columns[token] = found
        return found

    def _cache_columns(self, tokens: Iterable[str]) -> None:
        """What :meth:`_columns` would cache for each of ``tokens`` it does not hold, looked up
        in one pass: a few numpy calls for a batch's new tokens instead of a few for each (on
        12,000 unseen tweets the misses were about half of scoring). Leaves the cache's bound to
        :meth:`_columns` when they would pass it."""
        cache = self._token_columns
        missing = [token for token in dict.fromkeys(tokens) if token not in cache]
        if not missing or len(cache) + len(missing) > _TOKEN_CACHE_LIMIT:
            return
        keys: list[str] = []
        bounds = [0]
        for token in missing:
            keys += _token_keys(token)
            bounds.append(len(keys))
        columns = self._names.lookup(np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys)))
        known = columns >= 0
        for token, (start, end) in zip(missing, pairwise(bounds), strict=True):
            chars = columns[start + 2 : end]
            cache[token] = (int(columns[start]), int(columns[start + 1]), chars[known[start + 2 : end]])

    def transform(self, texts: Sequence[str]) -> SparseBatch:
        """The features of ``texts``, row ``i`` for ``texts[i]``."""
        tokenized = [tokenize(text) for text in texts]
        self._cache_columns(token for tokens in tokenized for token in tokens.words)
        columns = self._columns
        # Column ids go to numpy in bulk: per-token arrays from the cache (character n-grams)
        # are concatenated once, word and bigram ids are collected as plain ints.
        char_arrays: list[IntArray] = []
        char_rows: list[int] = []
        word_cols: list[int] = []
        word_rows: list[int] = []
        pair_hashes: list[int] = []
        pair_rows: list[int] = []
        dense: list[list[float]] = []
        for row, tokens in enumerate(tokenized):
            # The columns of word_features(tokens) and of each token's char_ngrams, looked up
            # through the per-token cache (training builds the vocabulary from those functions).
            words = tokens.words
            for token, negated in zip(words, tokens.negated, strict=True):
                plain, negated_col, chars = columns(token)
                unigram = negated_col if negated else plain
                if unigram >= 0:
                    word_cols.append(unigram)
                    word_rows.append(row)
                char_arrays.append(chars)
                char_rows.append(row)
            for pair in pairwise(words):
                pair_hashes.append(hash(pair))
                pair_rows.append(row)
            dense.append(dense_features(tokens, self.valence))
        n = len(texts)
        bigram_cols = self._bigrams.lookup(np.array(pair_hashes, dtype=np.int64))
        known = bigram_cols >= 0
        bigram_cols = bigram_cols[known]
        bigram_rows = np.array(pair_rows, dtype=np.int64)[known]
        dense_array = np.array(dense, dtype=np.float64).reshape(n, len(DENSE_NAMES))
        sizes = np.fromiter((a.size for a in char_arrays), dtype=np.int64, count=len(char_arrays))
        all_cols = np.concatenate([*char_arrays, np.array(word_cols, dtype=np.int64), bigram_cols])
        row_ids = np.concatenate(
            [
                np.repeat(np.array(char_rows, dtype=np.int64), sizes),
                np.array(word_rows, dtype=np.int64),
                bigram_rows,
            ]
        )
        if not all_cols.size:
            empty = np.zeros(0, dtype=np.int64)
            return SparseBatch(empty, empty, np.zeros(0), dense_array)
        width = self.width
        keys, counts = np.unique(row_ids * width + all_cols, return_counts=True)
        rows, cols_array = np.divmod(keys, width)
        values = (1.0 + np.log(counts)) * self.idf[cols_array]
        # One L2 norm per (row, block): words and characters weigh the same whatever the length.
        slot = rows * 2 + self.block[cols_array]
        norms = np.sqrt(np.bincount(slot, weights=values * values, minlength=2 * n))
        values = values / norms[slot]
        return SparseBatch(rows, cols_array, values, dense_array)


def _lines(text: str) -> Iterator[str]:
    """``text.split("\\n")`` one line at a time, without the list of them all."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


class SentimentModel:
    """A loaded classifier. :meth:`predict` and :meth:`score_batch` give the same answer for a
    text whatever else is in the batch; their only state is the per-token caches, which hold
    pure functions of the token (so concurrent use at worst computes an entry twice)."""

    def __init__(self, arrays: Mapping[str, Any]) -> None:
        version = int(np.asarray(arrays["features_version"]).reshape(-1)[0])
        if version != FEATURES_VERSION:
            raise ValueError(
                f"sentiment model built for features v{version}, code has v{FEATURES_VERSION}:"
                " retrain with `make train-sentiment`"
            )
        vocabulary = _lines(bytes(arrays["vocabulary"]).decode("utf-8"))
        valence_words = bytes(arrays["valence_words"]).decode("utf-8").split("\n")
        valence = dict(zip(valence_words, (float(v) for v in arrays["valence_values"]), strict=True))
        self.featurizer = Featurizer(vocabulary, arrays["idf"], valence)
        weights = np.asarray(arrays["weights"])
        self._class_weights = [
            np.ascontiguousarray(weights[:, k], dtype=np.float64) for k in range(len(CLASSES))
        ]
        self.dense_mean = np.asarray(arrays["dense_mean"], dtype=np.float64)
        self.dense_scale = np.asarray(arrays["dense_scale"], dtype=np.float64)
        self.dense_weights = np.asarray(arrays["dense_weights"], dtype=np.float64)
        self.bias = np.asarray(arrays["bias"], dtype=np.float64)
        if weights.shape != (self.featurizer.width, len(CLASSES)):
            raise ValueError(f"sentiment model weights have shape {weights.shape}")

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> SentimentModel:
        """Read a model file written by ``tools/train_sentiment.py`` (numpy arrays, no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in data.files})

    def logits(self, batch: SparseBatch) -> FloatArray:
        out = np.tile(self.bias, (batch.n_rows, 1))
        dense = (batch.dense - self.dense_mean) * self.dense_scale
        # One feature at a time, elementwise, not ``dense @ W``: BLAS sums a product in an
        # order that depends on the batch's shape, so a text's last bits (and, at a tie, its
        # label) would depend on the batch it came in.
        for j in range(dense.shape[1]):
            out += dense[:, j : j + 1] * self.dense_weights[j]
        for k, column in enumerate(self._class_weights):
            # one contiguous column per class: a 1-d gather is cheaper than rows of a matrix
            contributions = column[batch.cols] * batch.values
            out[:, k] += np.bincount(batch.rows, weights=contributions, minlength=batch.n_rows)
        return out

    def predict(self, texts: Sequence[str]) -> FloatArray:
        """Class probabilities, one row per text, columns in :data:`CLASSES` order."""
        if not texts:
            return np.zeros((0, len(CLASSES)))
        logits = self.logits(self.featurizer.transform(texts))
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return cast(FloatArray, exp / exp.sum(axis=1, keepdims=True))

    def score_batch(self, texts: Sequence[str]) -> list[tuple[float, SentimentLabel]]:
        """``(P(positive) - P(negative), argmax label)`` for each text."""
        probabilities = self.predict(texts)
        labels = probabilities.argmax(axis=1)
        return [
            (_clamp(float(p[2] - p[0])), CLASSES[int(k)]) for p, k in zip(probabilities, labels, strict=True)
        ]


def _clamp(value: float) -> float:
    return 0.0 if math.isnan(value) else max(-1.0, min(1.0, value))
