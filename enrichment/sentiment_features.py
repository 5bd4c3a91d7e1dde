"""The sentiment classifier's features: one tokenizer and featurizer for training and inference.

``tools/train_sentiment.py`` and :mod:`enrichment.sentiment_model` both call these functions,
so the model sees at run time exactly the features it was trained on. Changing anything here
changes the model's inputs: bump :data:`FEATURES_VERSION` and retrain (``make train-sentiment``);
the model file records the version it was built with and refuses to load under another.

A text becomes:

* *tokens*: lower-cased words (letter runs of 3+ squeezed to 2: "sooooo" -> "soo"), emoticons,
  emoji and other symbols one by one, runs of ``!``/``?``; URLs become ``xurl``, mentions
  ``xuser``, digits ``0``;
* *word features*: unigrams (``w:``; a word in a negation's scope, from "not"/"n't"/"never"...
  to the next clause punctuation, gets ``_neg``: "not good" is not "good") and bigrams (``b:``);
* *char features*: character 2- to 5-grams inside each token padded with spaces (``c:``), which
  carry misspellings, inflections and unseen words ("amazinggg", "#loveit");
* *dense features*: lexicon and style cues (:data:`DENSE_NAMES`): sums and extremes of word
  valences (negated words flipped), exclamation marks, questions, shouting, elongation.

Everything is a pure function of the text and the valence table, so features are identical on
every machine.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

__all__ = [
    "DENSE_NAMES",
    "FEATURES_VERSION",
    "Tokens",
    "char_ngrams",
    "dense_features",
    "tokenize",
    "word_features",
]

#: bump when tokens or features change; a model trained under another version will not load
FEATURES_VERSION = 2

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_DIGITS = re.compile(r"\d+")
_ELONGATED = re.compile(r"(\w)\1{2,}")
# Order matters: emoticons before words (":d", "xd"), words keep inner apostrophes ("don't").
_TOKEN = re.compile(
    r"""
    (?:[<>]?[:;=8][\-o*'^]?[)\](\[dp/\\|}{@3*]+)   # :) ;-) :d :p :/ =]
  | (?:[)\](\[/\\|][\-o*'^]?[:;=8])              # (: ):
  | </?3                                        # <3 </3
  | \#\w+                                       # hashtags stay whole
  | \w+(?:['’]\w+)*                             # words, "don't"
  | [!?]+                                       # "!!!", "?!"
  | \.{2,}|…                                    # trailing off
  | [^\s\w]                                     # any other symbol: emoji, punctuation
    """,
    re.VERBOSE,
)
_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "nowhere",
        "neither",
        "nor",
        "cannot",
        "cant",
        "dont",
        "wont",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "doesnt",
        "didnt",
        "havent",
        "hasnt",
        "hadnt",
        "couldnt",
        "shouldnt",
        "wouldnt",
        "aint",
        "without",
    ]
)
# Punctuation that ends a negation's scope ("not great, but fine": "fine" is not negated).
_CLAUSE_END = re.compile(r"^[.,:;!?…]+$")

#: names of the dense features, in column order
DENSE_NAMES: tuple[str, ...] = (
    "valence_pos",
    "valence_neg",
    "count_pos",
    "count_neg",
    "valence_max",
    "valence_min",
    "valence_last",
    "exclamations",
    "question",
    "shouting",
    "elongated",
    "negations",
    "after_but_pos",
    "after_but_neg",
)


@dataclass(frozen=True, slots=True)
class Tokens:
    """A text's tokens, which of them are in a negation's scope, and style counts."""

    words: list[str]
    negated: list[bool]
    shouting: int
    elongated: int


def _normalise(text: str) -> str:
    # Unescaping and the mention pattern need a "&" or an "@": skip them on texts without.
    if "&" in text:
        text = html.unescape(text)
    text = _URL.sub(" xurl ", text)
    if "@" in text:
        text = _MENTION.sub(" xuser ", text)
    return _DIGITS.sub("0", text)


#: raw token -> (token, shouting, elongated, kind); kind 1 ends a negation scope, 2 opens one
_RAW_CACHE: dict[str, tuple[str, int, int, int]] = {}
_RAW_CACHE_LIMIT = 100_000


def _read_raw(raw: str) -> tuple[str, int, int, int]:
    shouting = int(len(raw) > 2 and raw.isupper() and raw.isalpha())
    token = raw.lower()
    squeezed = _ELONGATED.sub(r"\1\1", token)
    elongated = int(squeezed != token)
    token = squeezed
    kind = 0
    if _CLAUSE_END.match(token):
        kind = 1
    elif token.replace("'", "").replace("’", "") in _NEGATORS or token.endswith(("n't", "n’t")):
        kind = 2
    return token, shouting, elongated, kind


def tokenize(text: str) -> Tokens:
    """The tokens of ``text`` (see the module docstring); never raises for any string."""
    words: list[str] = []
    negated: list[bool] = []
    shouting = elongated = 0
    in_scope = False
    cache = _RAW_CACHE
    for raw in _TOKEN.findall(_normalise(text)):
        # Tokens repeat across texts: each distinct one is read once (a pure function of it).
        read = cache.get(raw)
        if read is None:
            read = _read_raw(raw)
            if len(cache) >= _RAW_CACHE_LIMIT:
                cache.clear()
            cache[raw] = read
        token, shout, elongation, kind = read
        shouting += shout
        elongated += elongation
        words.append(token)
        if kind == 1:
            in_scope = False
            negated.append(False)
            continue
        negated.append(in_scope)
        if kind == 2:
            in_scope = True
    return Tokens(words, negated, shouting, elongated)


def word_features(tokens: Tokens) -> list[str]:
    """Unigram (negation-marked) and bigram feature names, duplicates kept (they count)."""
    words = tokens.words
    out = [f"w:{w}_neg" if neg else f"w:{w}" for w, neg in zip(words, tokens.negated, strict=True)]
    # A hashtag also counts as its word: "#fail" says what "fail" says.
    out.extend(f"w:{w[1:]}" for w in words if len(w) > 1 and w[0] == "#")
    out.extend(f"b:{a} {b}" for a, b in pairwise(words))
    return out


def char_ngrams(token: str, low: int = 2, high: int = 5) -> list[str]:
    """Character ``low``..``high``-grams of `` token `` (space-padded), duplicates kept."""
    padded = f" {token} "
    size = len(padded)
    return [f"c:{padded[i : i + n]}" for n in range(low, high + 1) for i in range(size - n + 1)]


def dense_features(tokens: Tokens, valence: Mapping[str, float]) -> list[float]:
    """The :data:`DENSE_NAMES` values for ``tokens`` with word valences from ``valence``.

    Valences are on VADER's -4..4 scale; a negated word counts at -0.74 times its valence, as
    VADER does. Sums are log-damped so that one long rant does not dominate.
    """
    pos = neg = 0.0
    n_pos = n_neg = 0
    high = low = last = 0.0
    exclamations = question = negations = 0
    # What follows the last "but" is what the writer means ("nice phone but the battery dies").
    after_pos = after_neg = 0.0
    for word, negated in zip(tokens.words, tokens.negated, strict=True):
        if word[0] in "!?":
            exclamations += word.count("!")
            question = question or int("?" in word)
            continue
        if word == "but":
            after_pos = after_neg = 0.0
            continue
        value = valence.get(word)
        if value is None and word.startswith("#"):
            value = valence.get(word[1:])
        if value is None:
            continue
        if negated:
            value *= -0.74
            negations += 1
        if value > 0:
            pos += value
            after_pos += value
            n_pos += 1
        elif value < 0:
            neg -= value
            after_neg -= value
            n_neg += 1
        high, low, last = max(high, value), min(low, value), value
    return [
        math.log1p(pos),
        math.log1p(neg),
        math.log1p(n_pos),
        math.log1p(n_neg),
        high / 4.0,
        low / 4.0,
        last / 4.0,
        math.log1p(exclamations),
        float(question),
        math.log1p(tokens.shouting),
        math.log1p(tokens.elongated),
        math.log1p(negations),
        math.log1p(after_pos),
        math.log1p(after_neg),
    ]
