"""The enrich step: a batch of messages in, the same messages out with ``enrichment`` filled.

How a batch flows:

1. each message's text is cleaned (lone surrogates -> U+FFFD, HTML tags blanked, cut at
   ``max_chars``) and reduced to its *core* (a retweet's ``RT @x:`` prefix and surrounding
   whitespace dropped); ``(language hint, core)`` is the cache key;
2. keys already in the per-process LRU cache are answered from it; the rest are deduplicated
   into :class:`Work` items;
3. the configured steps (``EnrichmentSettings.steps``, names in :data:`STEPS`) run in order,
   each a function over the whole list of work items filling one field group;
4. results go into the cache and are copied onto every message sharing the key, entity
   offsets shifted by the message's prefix length.

A step that fails for a batch is retried item by item; an item that still fails keeps that
field group's defaults and is logged; such a degraded result is not cached. Nothing raises
out of :meth:`Enricher.enrich`.

Stored shapes: hashtags as written without the leading ``#`` (``BlackFriday``), mentions
without ``@``, cashtags without ``$``, URLs as they appear in the text; keywords lower-cased.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from enrichment import twitter_text as tt
from enrichment.cache import LRUCache
from enrichment.entities import EntityRecognizer, load_spacy
from enrichment.intent import CUE_LANGUAGES, IntentClassifier
from enrichment.keywords import key_phrases
from enrichment.language import UNDETERMINED, LanguageDetector, build_detector, detect_languages
from enrichment.sentiment import SENTIMENT_LANGUAGES, Scorer, build_scorer
from enrichment.text import clean, core_text, looks_like_html, mask_spans, mask_tags
from hub.models import Enrichment, Message
from hub.settings import ENRICHMENT_STEPS, BrandSettings, EnrichmentSettings

__all__ = ["STEPS", "Enricher", "Work"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Work:
    """One distinct text being enriched, with the scratch data steps share."""

    text: str
    hint: str | None
    result: Enrichment = field(default_factory=Enrichment)
    #: URL, mention, hashtag and cashtag spans of ``text``
    spans: list[tuple[int, int]] = field(default_factory=list)
    #: ``text`` with those spans blanked: what language, keywords and intent read
    masked: str = ""
    #: a step failed on this text: its result is used once but not cached
    degraded: bool = False

    @property
    def language(self) -> str:
        """The effective language's primary subtag: the channel's hint when given ("en-GB" ->
        "en"), else the detected code."""
        if self.hint:
            return self.hint.split("-")[0].split("_")[0].lower() or UNDETERMINED
        return self.result.language

    @property
    def english_or_unknown(self) -> bool:
        return self.language in {"en", UNDETERMINED}

    def reads(self, languages: frozenset[str]) -> bool:
        """Whether a step that reads ``languages`` applies: undetermined text (too short to
        tell) is read too, as the commonest language of the streams, English, would be."""
        return self.language in languages or self.language == UNDETERMINED


Step = Callable[["Enricher", list[Work]], None]


def _extract(work: Work) -> None:
    text = work.text
    urls = tt.extract_urls_with_indices(text)
    hashtags = tt.extract_hashtags_with_indices(text)
    mentions = tt.extract_mentioned_screen_names_with_indices(text)
    cashtags = tt.extract_cashtags_with_indices(text)
    work.result.urls = [e.value for e in urls]
    work.result.hashtags = [e.value for e in hashtags]
    work.result.mentions = [e.value for e in mentions]
    work.result.cashtags = [e.value for e in cashtags]
    work.spans = [(e.start, e.end) for group in (urls, hashtags, mentions, cashtags) for e in group]
    work.masked = mask_spans(text, work.spans)


#: hints that say no language (ISO 639 "undetermined", "no linguistic content", "multiple",
#: "uncoded"); the X API also sends codes of the local-use range qaa-qtz ("qme": media only)
_NOT_A_LANGUAGE = frozenset({UNDETERMINED, "zxx", "mul", "mis"})


def _states_language(work: Work) -> bool:
    """The channel said which language the text is in (a tweet's ``lang``, a mail's
    Content-Language): detecting it again would cost time and a model in memory for nothing."""
    code = work.language
    return bool(work.hint) and code not in _NOT_A_LANGUAGE and not ("qaa" <= code <= "qtz")


def step_language(enricher: Enricher, works: list[Work]) -> None:
    settings = enricher.settings
    todo = []
    for work in works:
        if _states_language(work):
            work.result.language, work.result.language_confidence = work.language, 1.0
        else:
            todo.append(work)
    enricher.stats["language_from_channel"] += len(works) - len(todo)
    if not todo:
        return  # the detector is not even loaded
    found = detect_languages(
        enricher.detector,
        [w.masked for w in todo],
        min_letters=settings.language_min_letters,
        min_confidence=settings.language_min_confidence,
    )
    for work, (code, confidence) in zip(todo, found, strict=True):
        work.result.language = code
        work.result.language_confidence = round(confidence, 4)


def step_keywords(enricher: Enricher, works: list[Work]) -> None:
    for work in works:
        work.result.keywords = key_phrases(work.masked, work.language, enricher.settings.max_keywords)


def step_sentiment(enricher: Enricher, works: list[Work]) -> None:
    # Languages without a model keep sentiment None: unknown, which rollups skip, not neutral.
    todo = [w for w in works if w.reads(SENTIMENT_LANGUAGES)]
    enricher.stats["sentiment_skipped_language"] += len(works) - len(todo)
    if not todo:
        return
    scored = enricher.sentiment.score_batch([w.text for w in todo])
    for work, (score, label) in zip(todo, scored, strict=True):
        work.result.sentiment, work.result.sentiment_label = round(score, 4), label


def step_intent(enricher: Enricher, works: list[Work]) -> None:
    for work in works:
        if not work.reads(CUE_LANGUAGES):
            continue  # no cues in this language: intent stays None (unknown)
        found = enricher.intent.classify(work.masked, work.result.sentiment or 0.0)
        work.result.intent, work.result.intent_confidence = found.intent, found.confidence


def step_entities(enricher: Enricher, works: list[Work]) -> None:
    if not enricher.settings.ner:
        return
    recognizer = enricher.entities
    # English NER only for English or undetermined text; never for text detected otherwise.
    english = [w for w in works if w.english_or_unknown]
    todo = [w for w in english if recognizer.worth_running(w.masked)]
    enricher.stats["ner_skipped_language"] += len(works) - len(english)
    enricher.stats["ner_skipped_no_content"] += len(english) - len(todo)
    enricher.stats["ner_texts"] += len(todo)
    if not todo:
        return
    found = recognizer.recognise([w.text for w in todo], [w.spans for w in todo])
    for work, entities in zip(todo, found, strict=True):
        work.result.entities = entities


#: every enrichment step by name; ``EnrichmentSettings.steps`` picks and orders them
STEPS: dict[str, Step] = {
    "language": step_language,
    "keywords": step_keywords,
    "sentiment": step_sentiment,
    "intent": step_intent,
    "entities": step_entities,
}
# hub.settings validates ``steps`` against its own copy of the names (it imports nothing from
# here); a step added or renamed on one side only must fail loudly, at import.
if set(STEPS) != set(ENRICHMENT_STEPS):
    raise ImportError(
        f"enrichment.pipeline.STEPS {list(STEPS)} disagrees with hub.settings.ENRICHMENT_STEPS "
        f"{list(ENRICHMENT_STEPS)}; update both"
    )


class Enricher:
    """Loaded models plus the cache for one process; built by :func:`enrichment.build_nlp`.

    Models load lazily, on first use, so building an Enricher (and importing the package) is
    cheap; unknown step names fail at construction, not mid-stream.
    """

    def __init__(self, settings: EnrichmentSettings, brand: BrandSettings | None = None) -> None:
        unknown = [name for name in settings.steps if name not in STEPS]
        if unknown:
            raise ValueError(f"unknown enrichment steps {unknown}; known: {sorted(STEPS)}")
        self.settings = settings
        #: whose names and handles the entity ruler tags as the brand
        self.brand = brand or BrandSettings()
        self.steps = [(name, STEPS[name]) for name in settings.steps]
        self.cache: LRUCache[tuple[str, str], Enrichment] = LRUCache(settings.cache_size)
        #: counters for benches and metrics (texts sent to NER, skipped and why)
        self.stats: Counter[str] = Counter()
        self._detector: LanguageDetector | None = None
        self._sentiment: Scorer | None = None
        self._intent: IntentClassifier | None = None
        self._entities: EntityRecognizer | None = None
        # Bytewax may run several workers as threads of one process: one batch at a time here,
        # since neither spaCy nor the cache promises thread safety.
        self._lock = threading.Lock()

    @property
    def detector(self) -> LanguageDetector:
        if self._detector is None:
            self._detector = build_detector(self.settings.language_detector, self.settings.languages)
        return self._detector

    @property
    def sentiment(self) -> Scorer:
        if self._sentiment is None:
            self._sentiment = build_scorer(self.settings)
        return self._sentiment

    @property
    def intent(self) -> IntentClassifier:
        if self._intent is None:
            self._intent = IntentClassifier(self.settings.intent_cues)
        return self._intent

    @property
    def entities(self) -> EntityRecognizer:
        if self._entities is None:
            self._entities = EntityRecognizer(
                load_spacy(self.settings, self.brand), self.settings, self.brand
            )
        return self._entities

    def warm_up(self, *, detector: bool = True) -> None:
        """Load every model the configured steps need (call once per worker, if eager); the
        language detector only if ``detector`` (text whose channel states its language never
        needs it, and it is the largest: about 90 MiB)."""
        names = set(self.settings.steps)
        if "language" in names and detector:
            _ = self.detector
        if "sentiment" in names:
            _ = self.sentiment
        if "intent" in names:
            _ = self.intent
        if "entities" in names and self.settings.ner:
            _ = self.entities

    def _prepare(self, message: Message) -> tuple[tuple[str, str], int]:
        text = clean(message.text or "", self.settings.max_chars)
        if looks_like_html(text):
            text = mask_tags(text)
        core, offset = core_text(text)
        return (message.language or "", core), offset

    def _run_step(self, name: str, step: Step, works: list[Work]) -> None:
        try:
            step(self, works)
        except Exception:
            log.exception("enrichment step %r failed on a batch of %d; retrying one by one", name, len(works))
            for work in works:
                try:
                    step(self, [work])
                except Exception:
                    work.degraded = True
                    log.exception("enrichment step %r failed on a text of %d chars", name, len(work.text))

    def _run_steps(self, works: list[Work]) -> None:
        for work in works:
            try:
                _extract(work)
            except Exception:  # a regex edge case must not cost the message its enrichment
                work.degraded = True
                log.exception("keyword extraction failed for a text of %d chars", len(work.text))
        for name, step in self.steps:
            self._run_step(name, step, works)

    def enrich(self, messages: Sequence[Message]) -> list[Message]:
        """Fill ``enrichment`` (and the effective ``language``) of every message; never raises."""
        with self._lock:
            return self._enrich(messages)

    def _enrich(self, messages: Sequence[Message]) -> list[Message]:
        keyed: list[tuple[Message, tuple[str, str], int] | None] = []
        pending: dict[tuple[str, str], Work] = {}
        results: dict[tuple[str, str], Enrichment] = {}
        for message in messages:
            try:
                key, offset = self._prepare(message)
            except Exception:
                log.exception("could not prepare message %s for enrichment", message.id)
                keyed.append(None)
                continue
            keyed.append((message, key, offset))
            if key in results or key in pending:
                continue
            cached = self.cache.get(key)
            if cached is not None:
                results[key] = cached
            else:
                pending[key] = Work(text=key[1], hint=key[0] or None)
        if pending:
            works = list(pending.values())
            self._run_steps(works)
            for key, work in pending.items():
                work.result.done = True
                results[key] = work.result
                if not work.degraded:
                    self.cache.put(key, work.result)
        for message, entry in zip(messages, keyed, strict=True):
            try:
                if entry is None:
                    raise LookupError("not prepared")
                _, key, offset = entry
                message.enrichment = _for_message(results[key], message.text or "", offset)
            except Exception:
                log.exception("could not apply enrichment to message %s", message.id)
                message.enrichment = Enrichment(done=True)
            if not message.language:
                message.language = message.enrichment.language
        return list(messages)


def _for_message(shared: Enrichment, text: str, offset: int) -> Enrichment:
    """A copy of a (cached, shared) result fitted to one message's text.

    Lists are copied so a consumer editing one message's fields cannot change the cache or
    another message; entities are frozen values and are shared.
    """
    entities = shared.entities
    mentions = list(shared.mentions)
    if offset:
        entities = [e.model_copy(update={"start": e.start + offset, "end": e.end + offset}) for e in entities]
        mentions = tt.extract_mentioned_screen_names(text[:offset]) + mentions
    return shared.model_copy(
        update={
            "entities": list(entities),
            "hashtags": list(shared.hashtags),
            "mentions": mentions,
            "cashtags": list(shared.cashtags),
            "urls": list(shared.urls),
            "keywords": list(shared.keywords),
        }
    )
