"""Intent rules on clear examples, configurable cues, confidence."""

from __future__ import annotations

import pytest

from enrichment.intent import IntentClassifier
from enrichment.pipeline import Enricher

from .conftest import make_message


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("How do I reset my password?", "question"),
        ("Does anyone know when the store opens?", "question"),
        ("¿Alguien sabe si abren el domingo?", "question"),
        ("My order never arrived and support is useless, I want a refund", "complaint"),
        ("App keeps crashing after the update, fix this", "complaint"),
        ("Love the new design, great job team!", "praise"),
        ("Thank you so much, amazing support 🙏", "praise"),
        ("Where can I buy the Pro version? Want to buy 3 licences", "purchase"),
        ("Is the blue one back in stock? take my money", "purchase"),
        ("Heading to the office now", "other"),
    ],
)
def test_clear_examples(enricher: Enricher, text: str, intent: str) -> None:
    [out] = enricher.enrich([make_message(text, native_id=text)])
    assert out.enrichment.intent == intent, out.enrichment
    assert 0.0 < out.enrichment.intent_confidence <= 1.0


def test_confidence_grows_with_evidence() -> None:
    classifier = IntentClassifier()
    weak = classifier.classify("what is the price of the pro plan", 0.0)
    strong = classifier.classify("want to buy the pro plan, what is the price, any discount code", 0.0)
    assert weak.intent == strong.intent == "purchase"
    assert strong.confidence > weak.confidence


def test_sentiment_tips_weak_evidence() -> None:
    classifier = IntentClassifier()
    assert classifier.classify("the update arrived today", 0.0).intent == "other"
    assert classifier.classify("ugh smh the update arrived today", -0.9).intent == "complaint"
    assert classifier.classify("love it", 0.0).intent == "other"
    assert classifier.classify("love it", 0.8).intent == "praise"


def test_extra_cues_from_settings() -> None:
    classifier = IntentClassifier({"purchase": [r"\bbulk order\b"]})
    assert classifier.classify("interested in a bulk order for our team", 0.0).intent == "purchase"
    assert IntentClassifier().classify("interested in a bulk order for our team", 0.0).intent == "other"


def test_unknown_intent_in_settings_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown intent"):
        IntentClassifier({"gossip": ["tea"]})
