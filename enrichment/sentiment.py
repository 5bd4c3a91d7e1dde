"""Sentiment for social text: a score in [-1, 1] and a negative/neutral/positive label.

Two scorers share one batch interface (:class:`Scorer`), chosen by
``EnrichmentSettings.sentiment_model`` through :func:`build_scorer`:

* ``classifier`` (default): the linear model trained on 47k labelled tweets
  (:mod:`enrichment.sentiment_model`); about 0.71 macro-recall on TweetEval's dev split
  against 0.57 for the lexicon below (``python bench/sentiment.py``);
* ``lexicon``: :class:`SentimentScorer`, described next. Its emoji and slang valences also
  feed the classifier's lexicon features (``tools/train_sentiment.py``).

Both read English only. :data:`SENTIMENT_LANGUAGES` says which languages have a model; the
enrich step leaves other languages' sentiment ``None`` (unknown, not neutral) rather than
read French or Japanese through English words.

The lexicon scorer: VADER (rule-based, made for social media) is the engine: it already
handles negation ("not bad"), intensifiers ("sooo good!!!"), capitalisation and emoticons.
Tuned here for today's streams:

* emoji VADER reads through their CLDR names get the valence people mean: 🔥 is praise not
  arson, 😭 is distress, 😡 is anger (VADER's name lookup leaves it neutral), 💀 is laughter;
* slang VADER does not know ("lit", "goat", "mid", "trash", "scam", "ripoff"...);
* a neutral band: |compound| below ``sentiment_neutral_band`` is neutral.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from hub.models import SentimentLabel
from hub.settings import EnrichmentSettings

__all__ = ["SENTIMENT_LANGUAGES", "Scorer", "SentimentScorer", "build_scorer"]

#: languages (ISO 639-1) a sentiment scorer reads; text detected as any other gets ``None``
SENTIMENT_LANGUAGES = frozenset({"en"})


class Scorer(Protocol):
    """Scores English texts in batches: ``(score in [-1, 1], label)`` per text, in order."""

    def score_batch(self, texts: Sequence[str]) -> list[tuple[float, SentimentLabel]]: ...


def build_scorer(settings: EnrichmentSettings) -> Scorer:
    """The scorer ``settings.sentiment_model`` names, loaded (call once per process)."""
    if settings.sentiment_model == "lexicon":
        return SentimentScorer(settings.sentiment_neutral_band)
    from enrichment.sentiment_model import SentimentModel

    return SentimentModel.load()


#: valence on VADER's scale (-4..4) for emoji whose VADER reading is wrong or missing.
EMOJI_VALENCE: dict[str, float] = {
    "🔥": 2.0,
    "💯": 2.0,
    "🙌": 2.0,
    "👏": 1.8,
    "🥰": 2.5,
    "😍": 2.5,
    "🤩": 2.5,
    "❤": 2.5,
    "💕": 2.0,
    "💖": 2.0,
    "👍": 1.5,
    "🎉": 2.0,
    "🥳": 2.0,
    "🙏": 1.0,
    "💀": 1.0,
    "😂": 1.5,
    "🤣": 1.5,
    "😭": -1.5,
    "😢": -2.0,
    "😞": -2.0,
    "😔": -1.5,
    "😩": -1.8,
    "😫": -1.8,
    "😤": -1.8,
    "😡": -2.8,
    "😠": -2.5,
    "🤬": -3.0,
    "👎": -2.0,
    "🙄": -1.5,
    "🤮": -2.5,
    "🤢": -2.0,
    "💩": -2.0,
    "😒": -1.5,
    "😑": -0.8,
    "🤦": -1.5,
    "😬": -0.8,
}

#: slang and product-talk words VADER lacks or misreads (VADER scale).
SLANG_VALENCE: dict[str, float] = {
    "lit": 2.0,
    "goat": 2.0,
    "fab": 2.0,
    "dope": 1.8,
    "slaps": 1.8,
    "banger": 1.8,
    "fire": 1.0,
    "mid": -1.2,
    "trash": -2.0,
    "garbage": -2.2,
    "scam": -2.5,
    "ripoff": -2.5,
    "rip-off": -2.5,
    "scammed": -2.8,
    "broken": -1.8,
    "refund": -1.0,
    "unusable": -2.5,
    "laggy": -1.5,
    "buggy": -1.8,
    "glitchy": -1.5,
    "crashes": -1.5,
    "crashing": -1.5,
    "overpriced": -1.8,
    "sus": -1.0,
    "yikes": -1.5,
    "smh": -1.5,
    "fml": -2.0,
    "ffs": -1.8,
    "meh": -0.8,
    "booo": -1.5,
    "yay": 2.0,
    "yayyy": 2.2,
    "woohoo": 2.2,
    "ty": 1.2,
    "thx": 1.2,
    "tysm": 1.8,
}


def _token(index: int) -> str:
    # Letters only: VADER strips punctuation and digits would make it not a "word".
    return "emj" + "".join(chr(ord("a") + int(d)) for d in str(index))


class SentimentScorer:
    """VADER with the social-text lexicon above; one instance per process."""

    def __init__(self, neutral_band: float = 0.05) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.neutral_band = neutral_band
        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(SLANG_VALENCE)
        self._emoji_tokens: dict[str, str] = {}
        for index, (emoji, valence) in enumerate(EMOJI_VALENCE.items()):
            token = _token(index)
            self._emoji_tokens[emoji] = token
            self._vader.lexicon[token] = valence
        self._emoji_re = re.compile("|".join(re.escape(e) + "\ufe0f?" for e in EMOJI_VALENCE))
        # VADER's own emoji table would turn our placeholders' originals into words; ours win.
        for emoji in EMOJI_VALENCE:
            self._vader.emojis.pop(emoji, None)

    def _prepare(self, text: str) -> str:
        return self._emoji_re.sub(lambda m: f" {self._emoji_tokens[m.group(0)[0]]} ", text)

    def label(self, score: float) -> SentimentLabel:
        if score >= self.neutral_band:
            return "positive"
        if score <= -self.neutral_band:
            return "negative"
        return "neutral"

    def score(self, text: str) -> tuple[float, SentimentLabel]:
        """``(compound in [-1, 1], label)`` of an English text."""
        if not text.strip():
            return 0.0, "neutral"
        compound = float(self._vader.polarity_scores(self._prepare(text))["compound"])
        compound = max(-1.0, min(1.0, compound))
        return compound, self.label(compound)

    def score_batch(self, texts: Sequence[str]) -> list[tuple[float, SentimentLabel]]:
        return [self.score(text) for text in texts]
