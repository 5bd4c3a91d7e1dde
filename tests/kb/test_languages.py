"""Search follows the message's language, on every backend and in the in-memory matcher.

Each message is stemmed, and its stop words dropped, by its own language's rules
(``kb.languages``): an English stem never matches a French word, and a word that is a stop
word in one language is an ordinary word in another. Messages of an unknown language are
folded but never stemmed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.models import Conversation, Message
from kb.base import KnowledgeBase, SearchRequest
from kb.languages import PLAIN, STOP, analyse, analyse_leaf, analysis_for
from kb.matcher import compile_matcher

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _message(native_id: str, language: str | None, text: str, minutes: int) -> Message:
    return Message(
        channel="twitter",
        native_id=native_id,
        conversation_id=f"cnv_{native_id}",
        text=text,
        language=language,
        created_at=T0 + timedelta(minutes=minutes),
    )


MESSAGES = [
    _message("en1", "en", "My battery died after the update", 1),
    _message("en2", "en", "Batteries are out of stock again", 2),
    _message("fr1", "fr", "Ma batterie est morte", 3),
    _message("fr2", "fr", "Les batteries de rechange sont où ?", 4),
    _message("es1", "es", "Mi batería está muerta", 5),
    _message("es2", "es", "Compré dos baterías nuevas", 6),
    _message("de1", "de", "Meine Batterie ist leer", 7),
    _message("de2", "de", "Die Batterien halten nicht lange", 8),
    _message("pt1", "pt", "Minha bateria acabou", 9),
    _message("pt2", "pt", "As baterias novas chegaram", 10),
    _message("xx1", None, "batteries the end", 11),  # language unknown: folded, not stemmed
]
ALL = tuple(m.native_id for m in MESSAGES)

#: query -> native ids it must find
CASES: list[tuple[str, tuple[str, ...]]] = [
    # English stems never match other languages' words ...
    ("battery", ("en1", "en2")),
    ("morte", ("fr1",)),
    ("muerta", ("es1",)),
    ("Batterien", ("de1", "de2")),  # German: Batterie, Batterien -> batteri
    ("bateria", ("es1", "es2", "pt1", "pt2")),  # the Spanish and the Portuguese word
    ("baterías", ("es1", "es2", "pt1", "pt2")),  # folded, and stemmed in each
    # ... and a query, which has no language, is read in each message's own: the French word
    # finds the French messages (batterie, batteries -> batter) and, read as English, the
    # English ones (batterie -> batteri, like battery)
    ("batterie", ("en1", "en2", "fr1", "fr2", "de1", "de2")),
    ("batteries", ("en1", "en2", "fr1", "fr2", "de1", "de2", "xx1")),  # xx1: the very word only
    ("battery OR batterie", ("en1", "en2", "fr1", "fr2", "de1", "de2")),
    # a prefix matches the stems of every language
    ("batter*", ("en1", "en2", "fr1", "fr2", "de1", "de2", "xx1")),
    ("bater* lang:pt", ("pt1", "pt2")),
    ("batter* -lang:en -lang:fr", ("de1", "de2", "xx1")),
    ("batter* NOT batteries", ()),
    # stop words: nothing in their language, ordinary words elsewhere
    ("the", ("xx1",)),  # an English stop word; a plain word where no language is known
    ("est", ()),  # French
    ("ist", ()),  # German
    ("die", ()),  # German stop word; English "died" stems to "di"
    ("out", ("en2",)),
    # phrases keep the stop word's place, and drop leading and trailing ones
    ('"batterie est morte"', ("fr1",)),
    ('"batterie morte"', ()),
    ('"out of stock"', ("en2",)),
    ('"out stock"', ()),
    ('"the battery"', ("en1", "en2")),
    ('"battery died"', ("en1",)),
    # NEAR reads each message in its language
    ("batterie NEAR/2 morte", ("fr1",)),
    ("battery NEAR/3 update", ("en1",)),
    ("battery NEAR/3f update", ("en1",)),
    ("update NEAR/3f battery", ()),
]


@pytest.fixture
def language_kb(empty_kb: KnowledgeBase) -> KnowledgeBase:
    empty_kb.upsert_messages(MESSAGES)
    empty_kb.upsert_conversations(
        [
            Conversation(
                id=str(m.conversation_id),
                channel=m.channel,
                subject=m.text,
                languages=[m.language] if m.language else [],
                first_message_at=m.created_at,
                last_message_at=m.created_at,
                message_count=1,
            )
            for m in MESSAGES
        ]
    )
    empty_kb.refresh()
    return empty_kb


def _found(kb: KnowledgeBase, query: str) -> set[str]:
    result = kb.search_messages(SearchRequest(query=query, limit=100))
    return {hit.document.native_id for hit in result.hits}


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_search_follows_the_message_language(
    language_kb: KnowledgeBase, query: str, expected: tuple[str, ...]
) -> None:
    assert _found(language_kb, query) == set(expected)
    matcher = compile_matcher(query)
    assert {m.native_id for m in MESSAGES if matcher(m)} == set(expected)  # the reference semantics


@pytest.mark.parametrize(
    ("query", "expected"),
    [("battery", {"cnv_en1", "cnv_en2"}), ("morte", {"cnv_fr1"}), ("leer", {"cnv_de1"})],
)
def test_conversations_follow_their_messages_language(
    language_kb: KnowledgeBase, query: str, expected: set[str]
) -> None:
    result = language_kb.search_conversations(SearchRequest(query=query, sort="newest"))
    assert {hit.id for hit in result.hits} == expected


@pytest.mark.parametrize(
    ("native_id", "query", "marked"),
    [
        ("fr1", "batterie", "Ma <mark>batterie</mark> est morte"),
        ("de2", "batterie", "Die <mark>Batterien</mark> halten nicht lange"),
        ("en1", "battery", "My <mark>battery</mark> died after the update"),
    ],
)
def test_highlights_follow_the_message_language(
    language_kb: KnowledgeBase, native_id: str, query: str, marked: str
) -> None:
    hits = language_kb.search_messages(SearchRequest(query=query)).hits
    hit = next(h for h in hits if h.document.native_id == native_id)
    assert hit.highlights["text"] == [marked]


def test_language_codes_pick_their_analysis() -> None:
    assert [analysis_for(code) for code in ("en", "EN-gb", "pt_BR", "nb", "und", None, "ja")] == [
        "en",
        "en",
        "pt",
        "no",
        PLAIN,
        PLAIN,
        PLAIN,
    ]
    assert analyse("Ma batterie est morte", "fr") == [STOP, "batter", STOP, "mort"]
    assert analyse("The batteries", PLAIN) == ["the", "batteries"]
    assert analyse_leaf(("the", "battery"), False, "en") == ("batteri",)  # leading stop word dropped
    assert analyse_leaf(("the",), False, "en") is None  # matches nothing in English
    assert analyse_leaf(("the",), True, "en") == ("the",)  # a prefix is never a stop word
