"""The shared test documents every backend (and the in-memory matcher) is checked against.

Written for these tests; each message exercises something the query language can tell apart:
stemming, phrases, word order for NEAR/nf, diacritics, fields, conversation state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hub.models import Conversation, Direction, Enrichment, Entity, Identity, Message

ANN = Identity(channel="twitter", native_id="42", handle="ann", display_name="Ann Smith")
BOB = Identity(
    channel="email", native_id="bob@example.org", email="bob@example.org", display_name="Bob Jones"
)
CARLA = Identity(channel="facebook", native_id="7", display_name="Carla Müller")
AGENT = Identity(channel="email", native_id="help@parley.example", email="help@parley.example")


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def _msg(native_id: str, channel: str, conv: str, text: str, day: int, **extra: object) -> Message:
    enrichment = extra.pop("enrichment", Enrichment(language="en", sentiment_label="neutral", intent="other"))
    return Message(
        channel=channel,
        native_id=native_id,
        conversation_id=conv,
        text=text,
        created_at=_at(day, int(extra.pop("hour", 9))),  # type: ignore[call-overload]
        enrichment=enrichment,
        **extra,
    )


def _enr(label: str = "neutral", lang: str = "en", **kw: object) -> Enrichment:
    # Enriched documents: a known intent ("other" unless given); Enrichment() alone means unknown.
    kw.setdefault("intent", "other")
    return Enrichment(language=lang, sentiment_label=label, **kw)


MESSAGES: list[Message] = [
    _msg(
        "t1",
        "twitter",
        "cnv_a",
        "My refund is still missing after three weeks #fail @parley",
        2,
        author=ANN,
        language="en",
        enrichment=_enr("negative", hashtags=["fail"], mentions=["parley"], intent="complaint"),
    ),
    _msg(
        "t2",
        "twitter",
        "cnv_a",
        "Refunds take too long, I want my money back",
        2,
        hour=11,
        author=ANN,
        language="en",
        reply_to="t1",
        enrichment=_enr("negative", intent="complaint"),
    ),
    _msg(
        "e1",
        "email",
        "cnv_b",
        "The flight was delayed by two hours and nobody told us",
        3,
        author=BOB,
        subject="Delayed flight to Lisbon",
        language="en",
        enrichment=_enr("negative", entities=[Entity(text="Lisbon", label="GPE")]),
    ),
    _msg(
        "e2",
        "email",
        "cnv_b",
        "We are sorry your flight was delayed; a voucher is on its way",
        4,
        author=AGENT,
        subject="Re: Delayed flight to Lisbon",
        direction=Direction.OUT,
        language="en",
        enrichment=_enr("positive"),
    ),
    _msg(
        "f1",
        "facebook",
        "cnv_c",
        "Delayed again: flight delay number three this month",
        5,
        author=CARLA,
        language="en",
        url="https://www.facebook.com/parley/posts/1",
        enrichment=_enr("negative", urls=["https://blog.example.com/delays"]),
    ),
    _msg(
        "f2",
        "facebook",
        "cnv_c",
        "Le café à bord était excellent, merci beaucoup",
        5,
        hour=14,
        author=CARLA,
        language="fr",
        enrichment=_enr("positive", lang="fr"),
    ),
    _msg(
        "r1",
        "rss",
        "cnv_d",
        "Parley launches knowledge base search for support teams",
        10,
        url="https://news.example.org/parley-kb",
        language="en",
        enrichment=_enr("positive", entities=[Entity(text="Parley", label="ORG")], intent="news"),
    ),
    _msg(
        "s1",
        "sms",
        "cnv_e",
        "Please call me back about my refund request",
        10,
        hour=18,
        author=Identity(channel="sms", native_id="+447700900123", phone="+447700900123"),
        language="en",
        enrichment=_enr("neutral", intent="question"),
    ),
]

CONVERSATIONS: list[Conversation] = [
    Conversation(
        id="cnv_a",
        channel="twitter",
        subject=None,
        status="open",
        assignee="dana",
        tags=["VIP"],
        first_message_at=_at(2),
        last_message_at=_at(2, 11),
        message_count=2,
        languages=["en"],
    ),
    Conversation(
        id="cnv_b",
        channel="email",
        subject="Delayed flight to Lisbon",
        status="pending",
        queue="travel",
        first_message_at=_at(3),
        last_message_at=_at(4),
        message_count=2,
        languages=["en"],
    ),
    Conversation(
        id="cnv_c",
        channel="facebook",
        status="resolved",
        tags=["press", "vip"],
        first_message_at=_at(5),
        last_message_at=_at(5, 14),
        message_count=2,
        languages=["en", "fr"],
    ),
    Conversation(
        id="cnv_d",
        channel="rss",
        subject="Parley launches knowledge base search",
        status="open",
        first_message_at=_at(10),
        last_message_at=_at(10),
        message_count=1,
        languages=["en"],
    ),
    Conversation(
        id="cnv_e",
        channel="sms",
        status="open",
        assignee="Eli",
        priority="urgent",
        first_message_at=_at(10, 18),
        last_message_at=_at(10, 18),
        message_count=1,
        languages=["en"],
    ),
]


def by_native(*native_ids: str) -> set[str]:
    """The hub ids of the test messages with these native ids."""
    wanted = set(native_ids)
    return {m.id for m in MESSAGES if m.native_id in wanted}
