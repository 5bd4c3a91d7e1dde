"""Intent: question, complaint, praise, purchase (purchase intent) or other, with a confidence.

A small weighted-rule classifier, chosen over a trained one because there is no labelled
intent data here and because community managers need to see (and extend) why a message was
routed: each intent has cue patterns with weights; the message's sentiment adds evidence for
complaint (negative) or praise (positive). The best-scoring intent wins when its evidence
reaches 1.0, with confidence ``evidence / (evidence + 1)`` nudged down when a runner-up is
close; otherwise ``other``. Extra cues come from ``EnrichmentSettings.intent_cues``
(``{"purchase": ["\\bbulk order\\b"]}``; weight 1.0 each).

Cues cover English first, with the commonest Spanish, French, German and Portuguese forms
(:data:`CUE_LANGUAGES`); the enrich step leaves the intent of text in any other language
``None`` (unknown) rather than call it ``other`` from cues it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CUE_LANGUAGES", "INTENTS", "IntentClassifier", "IntentResult"]

INTENTS = ("question", "complaint", "praise", "purchase", "other")
#: languages (ISO 639-1) the built-in cues are written in
CUE_LANGUAGES = frozenset({"en", "es", "fr", "de", "pt"})

_BUILTIN_CUES: dict[str, list[tuple[str, float]]] = {
    "question": [
        (r"\?\s*$", 1.2),
        (r"\?", 0.6),
        (r"¿", 1.2),
        (r"^(?:how|what|when|where|why|who|which|is|are|can|could|does|do|did|will|would|should)\b", 0.7),
        (r"\b(?:anyone know|any idea|does anyone|how do i|how can i|is there a way|can someone)\b", 0.9),
        (r"\b(?:wondering|help me understand)\b", 0.5),
        (r"^(?:comment|pourquoi|quand|où|como|cómo|qué|cuándo|dónde|wie|warum|wann|wo|quando)\b", 0.6),
    ],
    "complaint": [
        (
            r"\b(?:not working|doesn'?t work|does not work|stopped working|isn'?t working|won'?t"
            r" (?:load|start|open|connect)|keeps? crashing|broken|still waiting|no response|never"
            r" arrived|hasn'?t arrived|charged twice|double charged|overcharged|worst|terrible|"
            r"awful|horrible|unacceptable|ridiculous|disappointed|disappointing|useless|scam|"
            r"rip-?off|fix (?:this|it|your)|refund|cancel(?:led|ling)? my|on hold for|fed up)\b",
            1.0,
        ),
        (r"\b(?:ugh|smh|wtf|ffs|fml)\b", 0.4),
        (
            r"\b(?:no funciona|no me gusta|reembolso|pésimo|horrible|nul|arnaque|remboursement|"
            r"funktioniert nicht|schlecht|erstattung|não funciona|reembolso)\b",
            1.0,
        ),
    ],
    "praise": [
        (
            r"\b(?:love|loving|loved|amazing|awesome|excellent|fantastic|brilliant|great job|"
            r"well done|best|impressed|perfect|so good|kudos|shout ?out)\b",
            0.9,
        ),
        (r"\b(?:thank you|thanks|thx|ty|tysm|cheers|appreciate)\b", 0.6),
        (r"\b(?:me encanta|gracias|génial|merci|danke|toll|obrigad[oa]|adoro)\b", 0.9),
    ],
    "purchase": [
        (
            r"\b(?:want to buy|wanna buy|where (?:can|do) i (?:buy|get|order)|how much (?:is|are|does)|"
            r"price|pricing|pre-?order|in stock|back in stock|ship(?:ping)? to|discount|promo code|"
            r"coupon|take my money|need (?:one|this|it)|going to (?:buy|order|get one)|"
            r"add(?:ed)? to (?:cart|basket)|checkout|subscribe|sign up|upgrade to|quote for)\b",
            1.1,
        ),
        (r"\b(?:buy|order|purchase|deal)\b", 0.5),
        (r"\b(?:comprar|precio|acheter|prix|kaufen|preis|quanto custa)\b", 1.0),
    ],
}


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: str
    confidence: float


class IntentClassifier:
    """Scores each intent from cue patterns and sentiment; pure once built."""

    def __init__(self, extra_cues: Mapping[str, Sequence[str]] | None = None) -> None:
        cues: dict[str, list[tuple[re.Pattern[str], float]]] = {}
        for intent, weighted in _BUILTIN_CUES.items():
            # Patterns are lower case and the text is lowered once: IGNORECASE costs 2-3x here.
            cues[intent] = [(re.compile(p, re.MULTILINE), w) for p, w in weighted]
        for intent, extra in (extra_cues or {}).items():
            if intent not in INTENTS or intent == "other":
                raise ValueError(f"unknown intent {intent!r} in intent_cues; expected one of {INTENTS[:-1]}")
            cues.setdefault(intent, []).extend((re.compile(p, re.IGNORECASE), 1.0) for p in extra)
        self._cues = cues

    def evidence(self, text: str, sentiment: float) -> dict[str, float]:
        # Each distinct cue counts (up to three per pattern): "back in stock? take my money"
        # is more purchase than question.
        text = text.lower()
        scores = {
            intent: sum(weight * min(3, len(set(pattern.findall(text)))) for pattern, weight in patterns)
            for intent, patterns in self._cues.items()
        }
        # Sentiment alone is weak evidence: a positive remark is not always praise.
        if sentiment <= -0.3:
            scores["complaint"] = scores.get("complaint", 0.0) + 0.6 * -sentiment
            scores["praise"] = scores.get("praise", 0.0) * 0.5
        elif sentiment >= 0.3:
            scores["praise"] = scores.get("praise", 0.0) + 0.4 * sentiment
            scores["complaint"] = scores.get("complaint", 0.0) * 0.7
        return scores

    def classify(self, text: str, sentiment: float = 0.0) -> IntentResult:
        scores = self.evidence(text, sentiment)
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        best, top = ranked[0] if ranked else ("other", 0.0)
        if top < 1.0:
            return IntentResult("other", round(1.0 - top / 2, 3))
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        confidence = top / (top + 1.0) * (1.0 - 0.5 * runner_up / top)
        return IntentResult(best, round(min(max(confidence, 0.0), 1.0), 3))
