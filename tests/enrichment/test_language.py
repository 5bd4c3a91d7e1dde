"""Language: ISO 639-1 or und; short noisy text is und, not Welsh."""

from __future__ import annotations

import pytest

from enrichment.language import LinguaDetector, Py3LangidDetector, detect_languages
from enrichment.pipeline import Enricher

from .conftest import make_message


@pytest.mark.parametrize(
    "text",
    ["lol @bob 😂 #fail", "omg 😭😭", "ok", "lmao #tbt http://t.co/x", "@a @b @c", "haha yes!!", "wtf"],
)
def test_short_noisy_text_is_und(enricher: Enricher, text: str) -> None:
    [out] = enricher.enrich([make_message(text, native_id=text)])
    assert out.enrichment.language == "und"
    assert out.language == "und"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("my package still hasn't arrived and nobody answers the phone", "en"),
        ("mi pedido todavía no ha llegado y nadie contesta el teléfono", "es"),
        ("mon colis n'est toujours pas arrivé et personne ne répond", "fr"),
        ("mein Paket ist immer noch nicht angekommen und niemand antwortet", "de"),
        ("minha encomenda ainda não chegou e ninguém atende o telefone", "pt"),
    ],
)
def test_clear_sentences(enricher: Enricher, text: str, code: str) -> None:
    [out] = enricher.enrich([make_message(f"@shop {text} #help https://t.co/Ab12", native_id=code)])
    assert out.enrichment.language == code
    assert 0.5 <= out.enrichment.language_confidence <= 1.0


def test_low_confidence_is_und() -> None:
    detector = Py3LangidDetector(["en", "es", "cy"])
    [(code, confidence)] = detect_languages(
        detector, ["ffff gggg hhhh jjjj"], min_letters=5, min_confidence=0.99
    )
    assert code == "und" and confidence < 0.99


def test_lingua_backend_agrees_on_clear_text() -> None:
    detector = LinguaDetector(["en", "de", "no"])
    found = detect_languages(
        detector,
        ["the weather is lovely today and we are going to the beach", "das Wetter ist heute schön"],
        min_letters=5,
        min_confidence=0.3,
    )
    assert [code for code, _ in found] == ["en", "de"]
