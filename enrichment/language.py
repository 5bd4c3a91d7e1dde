"""Language identification for short social text: an ISO 639-1 code, or ``und``.

Two detectors sit behind one interface so the choice stays measured rather than assumed
(``python bench/enrich.py --languages`` prints accuracy and speed of both):

* ``py3langid`` (default): a naive Bayes model over byte n-grams, restricted to the configured
  candidate languages and with normalised probabilities. It loads in under a second and runs
  tens of thousands of short texts a second on one core.
* ``lingua``: more accurate on some very short inputs but loads its models for several
  seconds per process and runs roughly ten times slower here. It is an optional extra
  (``pip install "parley[lingua]"``); ``build_nlp`` refuses it with a FatalError when missing.

Short text is the hard part: "lol @bob 😂 #fail" carries no language evidence once the
mention and hashtag are gone, and a detector asked anyway picks something exotic (Welsh,
Sotho...). So URLs, mentions, hashtags and cashtags are masked first, texts left with fewer
than ``language_min_letters`` letters are ``und``, and so are answers below
``language_min_confidence``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from enrichment.text import letters

__all__ = ["UNDETERMINED", "LanguageDetector", "LinguaDetector", "Py3LangidDetector", "detect_languages"]

log = logging.getLogger(__name__)

UNDETERMINED = "und"


class LanguageDetector(Protocol):
    """Answers ``(iso639_1_code, confidence in [0, 1])`` for each text."""

    name: str

    def detect(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...


class Py3LangidDetector:
    """py3langid restricted to ``languages``, with probabilities normalised to sum to 1."""

    name = "py3langid"

    def __init__(self, languages: Sequence[str]) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        known = set(self._identifier.nb_classes)
        wanted = [code for code in languages if code in known]
        if wanted:
            self._identifier.set_languages(wanted)

    def detect(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        results: list[tuple[str, float]] = []
        for text in texts:
            code, prob = self._identifier.classify(text)
            results.append((str(code), float(prob)))
        return results


class LinguaDetector:
    """lingua-language-detector restricted to ``languages`` (models preloaded)."""

    name = "lingua"

    def __init__(self, languages: Sequence[str]) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        chosen = []
        for code in languages:
            try:
                # lingua knows Norwegian as Bokmål and Nynorsk, not the macrolanguage "no".
                for one in ("nb", "nn") if code == "no" else (code,):
                    chosen.append(Language.from_iso_code_639_1(IsoCode639_1.from_str(one)))
            except (ValueError, AttributeError):
                log.warning("lingua does not know language %r; ignored", code)
        builder = (
            LanguageDetectorBuilder.from_languages(*chosen)
            if len(chosen) >= 2
            else LanguageDetectorBuilder.from_all_languages()
        )
        self._detector = builder.with_preloaded_language_models().build()

    def detect(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        results: list[tuple[str, float]] = []
        for values in self._detector.compute_language_confidence_values_in_parallel(list(texts)):
            if not values:
                results.append((UNDETERMINED, 0.0))
                continue
            best = values[0]
            results.append((best.language.iso_code_639_1.name.lower(), float(best.value)))
        return results


def build_detector(name: str, languages: Sequence[str]) -> LanguageDetector:
    if name == "lingua":
        return LinguaDetector(languages)
    return Py3LangidDetector(languages)


def detect_languages(
    detector: LanguageDetector,
    masked_texts: Sequence[str],
    *,
    min_letters: int,
    min_confidence: float,
) -> list[tuple[str, float]]:
    """The language of each text (already stripped of URLs, mentions and hashtags).

    ``und`` with confidence 0 when there is too little text; ``und`` with the detector's
    confidence when it is unsure.
    """
    results: list[tuple[str, float]] = [(UNDETERMINED, 0.0)] * len(masked_texts)
    todo = [i for i, text in enumerate(masked_texts) if letters(text) >= min_letters]
    if not todo:
        return results
    answers = detector.detect([" ".join(masked_texts[i].split()) for i in todo])
    for i, (code, confidence) in zip(todo, answers, strict=True):
        confidence = max(0.0, min(1.0, confidence))
        results[i] = (code, confidence) if confidence >= min_confidence else (UNDETERMINED, confidence)
    return results
