"""Rule evaluation (``flows.routing.decide``), pure: which rules match and what they decide."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.routing import RoutingState
from crm.rules import RuleActions, RuleCondition, RuleView
from flows.routing import compile_rules, decide
from hub.models import Enrichment, Identity, Message
from kb.analysis import message_field_values
from kb.matcher import analyse_message, evaluate
from kb.query import parse_query

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def rule(n: int, condition: dict[str, object], actions: dict[str, object], *, stop: bool = False) -> RuleView:
    return RuleView(
        id=f"rule_{n}",
        position=n,
        name=f"rule {n}",
        enabled=True,
        condition=RuleCondition.model_validate(condition),
        actions=RuleActions.model_validate(actions),
        stop=stop,
        created_at=NOW,
        updated_at=NOW,
    )


def state(**fields: object) -> RoutingState:
    values: dict[str, object] = {
        "conversation_id": "c1",
        "channel": "email",
        "account": "support",
        "contact_id": "ctc_1",
        "language": "en",
        "status": "open",
        "snoozed_until": None,
        "assignee": None,
        "queue": None,
        "priority": "normal",
        "tags": (),
        "waiting": False,
        "last_assignee": None,
    }
    return RoutingState(**{**values, **fields})  # type: ignore[arg-type]


MESSAGE = Message(
    channel="email",
    account="support",
    native_id="m1",
    author=Identity(channel="email", native_id="ann@example.org", display_name="Ann"),
    subject="Refund please",
    text="My kettle arrived broken and I want my money back",
    language="en",
    enrichment=Enrichment(sentiment=-0.8, sentiment_label="negative", intent="complaint", done=True),
)
TEAM = {"mode": "round_robin", "team_id": "team_a"}


def test_every_match_applies_its_queue_priority_and_tags_and_the_first_assignment_wins() -> None:
    rules = compile_rules(
        [
            rule(1, {"query": "refund"}, {"queue": "billing", "tags": ["refund"], "assign": TEAM}),
            rule(2, {"query": "spam"}, {"queue": "never"}),
            rule(
                3,
                {"sentiments": ["negative"], "intents": ["complaint"]},
                {"priority": "high", "tags": ["angry"]},
            ),
            rule(
                4,
                {"channels": ["EMAIL"]},
                {"queue": "mail", "assign": {"mode": "agent", "agent_id": "agt_b"}},
            ),
        ]
    )
    decision = decide(rules, state(), MESSAGE)
    assert decision.queue == "mail" and decision.priority == "high"
    assert decision.tags == ("refund", "angry")
    assert decision.assign is not None and decision.assign.team_id == "team_a"
    assert decision.assign_rule_id == "rule_1"


def test_stop_ends_the_list_and_conversation_fields_are_read() -> None:
    rules = compile_rules(
        [
            rule(1, {"query": "status:open tag:vip", "priorities": ["normal"]}, {"queue": "vip"}, stop=True),
            rule(2, {}, {"queue": "everyone"}),
        ]
    )
    assert decide(rules, state(tags=("VIP",)), MESSAGE).queue == "vip"
    assert decide(rules, state(), MESSAGE).queue == "everyone"
    assert decide(rules, state(tags=("vip",), status="pending"), MESSAGE).queue == "everyone"
    segment_rule = compile_rules([rule(1, {"segments": ["seg_vip"], "languages": ["en"]}, {"queue": "vip"})])
    assert decide(segment_rule, state(), MESSAGE, {"seg_vip"}).queue == "vip"
    assert decide(segment_rule, state(), MESSAGE, set()).queue is None


def test_a_rule_that_cannot_run_is_skipped_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    broken = rule(1, {}, {"queue": "broken", "assign": TEAM})
    broken = broken.model_copy(
        update={"condition": RuleCondition.model_construct(query="(refund", channels=[])}
    )
    rules = compile_rules(
        [
            broken,
            rule(2, {}, {"assign": {"mode": "round_robin", "team_id": "team_gone"}}),
            rule(3, {}, {"queue": "ok"}),
        ],
        missing={"team_gone"},
    )
    with caplog.at_level(logging.WARNING, logger="parley.routing"):
        decision = decide(rules, state(), MESSAGE)
    assert decision.queue == "ok" and decision.assign is None
    text = caplog.text
    assert "rule 1" in text and "does not parse" in text
    assert "rule 2" in text and "team_gone, which no longer exists" in text


_WORDS = [
    "refund",
    "refunds",
    "kettle",
    "broken",
    "batterie",
    "battery",
    "money",
    "back",
    "the",
    "le",
    "out",
    "stock",
]
_QUERIES = [
    "refund",
    "refund*",
    "kettle AND broken",
    "batterie OR battery",
    '"money back"',
    "-kettle",
    "kettle NEAR/2 broken",
    "status:open refund",
    "tag:vip OR battery",
    "(the OR le) stock",
    '"out of stock"',
]


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8),
    language=st.sampled_from(["en", "fr", "und"]),
    tags=st.lists(st.sampled_from(["vip", "new"]), max_size=2),
)
def test_the_required_word_prefilter_never_changes_what_a_rule_matches(
    words: list[str], language: str, tags: list[str]
) -> None:
    """Rules skip the query of a message that holds none of its required words; the decision
    must be what evaluating every query gives."""
    message = MESSAGE.model_copy(update={"text": " ".join(words), "subject": None, "language": language})
    conversation = state(tags=tuple(tags))
    views = [rule(n, {"query": query}, {"tags": [f"q{n}"]}) for n, query in enumerate(_QUERIES)]
    facts_message = message
    fields = {
        **message_field_values(facts_message),
        "status": [conversation.status],
        "assignee": [],
        "tag": list(dict.fromkeys(tags)),
    }
    analysed = analyse_message(facts_message)
    expected = tuple(
        f"q{n}" for n, query in enumerate(_QUERIES) if evaluate(parse_query(query), analysed, fields)
    )
    assert decide(compile_rules(views), conversation, message).tags == expected


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8),
    language=st.sampled_from(["en", "fr", "und"]),
    picks=st.lists(
        st.tuples(
            st.sampled_from([*_QUERIES, ""]),
            st.sampled_from([[], ["email"], ["sms"]]),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_the_rule_index_decides_what_every_rule_in_turn_decides(
    words: list[str], language: str, picks: list[tuple[str, list[str], bool]]
) -> None:
    """``compile_rules`` indexes the rules by their required keys and ``decide`` looks only at
    those a message may match: queue, tags, the first assignment and ``stop`` must come out as
    when every rule is checked in order (a plain list of the same compiled rules)."""
    message = MESSAGE.model_copy(update={"text": " ".join(words), "language": language})
    views = [
        rule(
            n,
            {"query": query, "channels": channels},
            {"queue": f"q{n}", "tags": [f"t{n}"], **({"assign": TEAM} if n % 3 == 1 else {})},
            stop=stop,
        )
        for n, (query, channels, stop) in enumerate(picks)
    ]
    indexed = compile_rules(views)
    assert indexed.indexed == any(query for query, _, _ in picks)
    assert decide(indexed, state(), message) == decide(list(indexed), state(), message)
