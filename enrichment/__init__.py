"""NLP enrichment of messages: language, sentiment, entities, keywords and intent.

``enrich(messages, settings, brand)`` is what the ingest dataflow calls on each batch: it returns the
same messages, in order, with ``message.enrichment`` filled (``done=True``) and
``message.language`` set to the effective language (a channel-given hint wins; otherwise the
detected ISO 639-1 code, ``und`` when unsure). ``enrichment.language`` is always the detected
one. It never raises for any text.

Models load once per process, lazily on the first ``enrich()`` (so importing this package is
cheap): ``build_nlp(settings, brand)`` returns the process's
:class:`~enrichment.pipeline.Enricher` for those settings, holding the models and the LRU
cache of results by normalised text.

Field conventions (what the KB facets on): hashtags as written without ``#``, mentions
without ``@``, cashtags without ``$``, URLs as they appear; the brand's names and handles
(``BrandSettings``, the root settings' ``brand``) are entities labelled
``EnrichmentSettings.brand_label`` (default ``ORG``); keywords lower-cased.

Unknown is not neutral: sentiment (score and label) is ``None`` for text in a language no
sentiment model reads (English only today: ``enrichment.sentiment.SENTIMENT_LANGUAGES``), and
intent is ``None`` for a language without intent cues (``enrichment.intent.CUE_LANGUAGES``).
Undetermined text (``und``: too little of it to tell) is read as English.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.errors import FatalError
from hub.models import Message
from hub.settings import BrandSettings, EnrichmentSettings

if TYPE_CHECKING:
    from enrichment.pipeline import Enricher

__all__ = ["build_nlp", "enrich"]

_ENRICHERS: dict[str, Enricher] = {}
_LOCK = threading.Lock()


def build_nlp(settings: EnrichmentSettings | None = None, brand: BrandSettings | None = None) -> Enricher:
    """The process-wide :class:`Enricher` for ``settings`` and ``brand`` (built once, models
    loaded lazily)."""
    from enrichment.pipeline import Enricher

    settings = settings or EnrichmentSettings()
    brand = brand or BrandSettings()
    if settings.language_detector == "lingua":
        _require_lingua()
    key = settings.model_dump_json() + brand.model_dump_json()
    enricher = _ENRICHERS.get(key)
    if enricher is None:
        with _LOCK:
            enricher = _ENRICHERS.get(key)
            if enricher is None:
                enricher = Enricher(settings, brand)
                _ENRICHERS[key] = enricher
    return enricher


def _require_lingua() -> None:
    # lingua is an optional extra: say how to get it now, not with an ImportError mid-stream.
    if importlib.util.find_spec("lingua") is None:
        raise FatalError(
            'language_detector = "lingua" needs the lingua-language-detector package: '
            'pip install "parley[lingua]" (or choose language_detector = "py3langid")'
        )


def enrich(
    messages: Sequence[Message],
    settings: EnrichmentSettings | None = None,
    brand: BrandSettings | None = None,
) -> list[Message]:
    """Enrich a batch in place and return it (same objects, same order); never raises."""
    if not messages:
        return []
    return build_nlp(settings, brand).enrich(messages)
