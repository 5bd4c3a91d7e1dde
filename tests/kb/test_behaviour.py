"""One behavioural suite for every KB backend, and the in-memory matcher checked against it.

The same documents go in (``tests.kb.docs``); the same hits, facets and counts must come out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.models import Conversation, Message
from kb.base import KnowledgeBase, SearchFilters, SearchRequest
from kb.matcher import compile_matcher
from kb.query import QuerySyntaxError
from tests.kb.docs import CONVERSATIONS, MESSAGES, by_native

ALL = tuple(m.native_id for m in MESSAGES)

#: query -> native ids of the messages it must find
CASES: list[tuple[str, tuple[str, ...] | None]] = [
    ("refund", ("t1", "t2", "s1")),  # "Refunds" stems to refund
    ("REFUNDS", ("t1", "t2", "s1")),
    ('"money back"', ("t2",)),
    ('"back money"', ()),
    ("refu*", ("t1", "t2", "s1")),
    ("refund*", ("t1", "t2", "s1")),
    ("flight delay", ("e1", "e2", "f1")),  # implicit AND, "delayed" stems to delay
    ("flight AND delay", ("e1", "e2", "f1")),
    ('"flight was delayed"', ("e1", "e2")),
    ("delay NEAR/0f flight", ("e1", "e2")),  # subject "Delayed flight"
    ("flight NEAR/0f delay", ("f1",)),  # "flight delay number three"
    ("flight NEAR/0 delay", ("e1", "e2", "f1")),
    ("sorry NEAR/3 delayed", ("e2",)),
    ("sorry NEAR/2 delayed", ()),
    ('"money back" NEAR/3 long', ("t2",)),
    ("flight -lisbon", ("f1",)),
    ("flight NOT lisbon", ("f1",)),
    ("(refund OR voucher) AND channel:email", ("e2",)),
    ("refund OR voucher", ("t1", "t2", "s1", "e2")),
    ("café", ("f2",)),
    ("cafe", ("f2",)),
    ("müller", ("f1", "f2")),  # author names are searchable text
    ("ann", ("t1", "t2")),
    ("author:ann", ("t1", "t2")),
    ("author:@ANN", ("t1", "t2")),
    ('author:"Bob Jones"', ("e1",)),
    ("author:bob@example.org", ("e1",)),
    ("author:+447700900123", ("s1",)),
    ("channel:facebook lang:fr", ("f2",)),
    ("language:fr", ("f2",)),
    ("sentiment:positive", ("e2", "f2", "r1")),
    ("hashtag:#fail", ("t1",)),
    ("hashtag:FAIL", ("t1",)),
    ("mention:@parley", ("t1",)),
    ("entity:lisbon", ("e1",)),
    ('entity:"Parley"', ("r1",)),
    ("site:example.com", ("f1",)),
    ("site:facebook.com", ("f1",)),
    ("site:https://news.example.org/other", ("r1",)),
    ("site:example.org", ("r1",)),
    ("status:pending", ("e1", "e2")),
    ("tag:vip", ("t1", "t2", "f1", "f2")),
    ("assignee:eli", ("s1",)),
    ("intent:complaint", ("t1", "t2")),
    ("NOT channel:twitter", ("e1", "e2", "f1", "f2", "r1", "s1")),
    ("-channel:twitter -channel:email", ("f1", "f2", "r1", "s1")),
    ("channel:(sms OR rss)", ("r1", "s1")),
    ("channel:face*", ("f1", "f2")),
    ("lang:fr OR refund", ("f2", "t1", "t2", "s1")),
    ("(flight OR refund) -status:pending sentiment:negative", ("t1", "t2", "f1")),
    ("delayed OR author:ann", ("e1", "e2", "f1", "t1", "t2")),
    ("NOT (refund OR flight)", ("f2", "r1")),
    ("knowledge base", ("r1",)),
    ("refund OR -channel:twitter", ("e1", "e2", "f1", "f2", "r1", "s1", "t1", "t2")),
    ("(refund OR -flight) channel:email", ()),
    ("(voucher OR -flight) channel:email", ("e2",)),
    ("del* NEAR/1f flight", ("e1", "e2", "f1")),  # "Delayed again: flight"
    ("flight NEAR/1f del*", ("e1", "e2", "f1")),
    ('"money back" NEAR/3 long OR café', ("t2", "f2")),
    ("(delay NEAR/0f flight OR hashtag:fail) -lisbon", ("t1",)),
    ("sentiment:neg*", ("t1", "t2", "e1", "f1")),
    ("author:ann*", ("t1", "t2")),
    ("", ALL),
    ("   ", ALL),
    ("+++ ~~~", ALL),  # nothing searchable: everything, like an empty query
    ('refund^2 "AND" OR)(', None),  # unbalanced: a syntax error, not a crash
    ("nonexistentword", ()),
    ("foo:bar", ()),  # an unknown field is plain text
    ("NEAR(refund late, 3)", ()),  # FTS5 syntax is just words here
    ('title:"x" AND body:y~2 OR z^3 {a TO b} [c TO d] \\ / ! ?', ()),  # Lucene syntax too
]


def _conversation_of(message: Message) -> object:
    return next(c for c in CONVERSATIONS if c.id == message.conversation_id)


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_query_finds_the_same_messages(
    loaded_kb: KnowledgeBase, query: str, expected: tuple[str, ...] | None
) -> None:
    if expected is None:
        with pytest.raises(QuerySyntaxError):
            loaded_kb.search_messages(SearchRequest(query=query))
        with pytest.raises(QuerySyntaxError):
            compile_matcher(query)
        return
    result = loaded_kb.search_messages(SearchRequest(query=query, limit=50))
    assert {h.id for h in result.hits} == by_native(*expected)
    assert result.total == len(expected)
    # the in-memory matcher the flow uses for feed filters agrees with the backend
    match = compile_matcher(query)
    assert {m.id for m in MESSAGES if match(m, _conversation_of(m))} == by_native(*expected)


def test_relevance_ranks_denser_matches_first(loaded_kb: KnowledgeBase) -> None:
    result = loaded_kb.search_messages(SearchRequest(query="delayed OR delay"))
    assert result.hits[0].id in by_native("f1", "e1", "e2")
    assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:], strict=False))
    assert all(h.score > 0 for h in result.hits)


def test_highlights_mark_matching_words_and_escape_html(empty_kb: KnowledgeBase) -> None:
    tricky = Message(
        channel="email",
        native_id="x",
        text="<b>Refund</b> & refunds: please refund me",
        subject="Refund?",
        language="en",  # stems follow the language (kb.languages)
    )
    empty_kb.upsert_messages([*MESSAGES, tricky])
    result = empty_kb.search_messages(SearchRequest(query="refund -channel:sms", limit=50))
    hit = next(h for h in result.hits if h.id == tricky.id)
    text = " ".join(hit.highlights["text"])
    assert "<mark>Refund</mark>" in text and "<mark>refunds</mark>" in text
    assert "<b>" not in text and "&lt;b&gt;" in text
    assert "<mark>Refund</mark>" in " ".join(hit.highlights["subject"])
    phrase = empty_kb.search_messages(SearchRequest(query='"money back"'))
    assert "<mark>money</mark> <mark>back</mark>" in phrase.hits[0].highlights["text"][0]
    no_marks = empty_kb.search_messages(SearchRequest(query="channel:sms", highlight=False))
    assert no_marks.hits[0].highlights == {}


def test_facets_count_the_matching_messages(loaded_kb: KnowledgeBase) -> None:
    result = loaded_kb.search_messages(
        SearchRequest(
            query="-channel:rss",
            facets=[
                "channel",
                "language",
                "sentiment_label",
                "hashtags",
                "entities",
                "status",
                "tags",
                "intent",
            ],
            limit=0,
        )
    )
    assert result.total == 7 and result.hits == []
    facets = {name: [(b.value, b.count) for b in buckets] for name, buckets in result.facets.items()}
    assert facets["channel"] == [("email", 2), ("facebook", 2), ("twitter", 2), ("sms", 1)]
    assert facets["language"] == [("en", 6), ("fr", 1)]
    assert facets["sentiment_label"] == [("negative", 4), ("positive", 2), ("neutral", 1)]
    assert facets["hashtags"] == [("fail", 1)]
    assert facets["entities"] == [("lisbon", 1)]
    assert facets["status"] == [("open", 3), ("pending", 2), ("resolved", 2)]
    assert facets["tags"] == [("vip", 4), ("press", 2)]
    assert facets["intent"] == [("other", 4), ("complaint", 2), ("question", 1)]


def test_date_histogram_by_day_and_week(loaded_kb: KnowledgeBase) -> None:
    daily = loaded_kb.search_messages(SearchRequest(query="refund OR flight", histogram="day"))
    days = [(b.start.isoformat()[:10], b.count) for b in daily.histogram]
    assert days == [
        ("2026-11-02", 2),
        ("2026-11-03", 1),
        ("2026-11-04", 1),
        ("2026-11-05", 1),
        ("2026-11-06", 0),
        ("2026-11-07", 0),
        ("2026-11-08", 0),
        ("2026-11-09", 0),
        ("2026-11-10", 1),
    ]
    weekly = loaded_kb.search_messages(SearchRequest(histogram="week"))
    assert [(b.start.isoformat()[:10], b.count) for b in weekly.histogram] == [
        ("2026-11-02", 6),
        ("2026-11-09", 2),
    ]
    assert all(b.start.tzinfo is not None for b in weekly.histogram)


def test_filters_combine_with_the_query(loaded_kb: KnowledgeBase) -> None:
    filters = SearchFilters(channels=["email"], direction="out")
    result = loaded_kb.search_messages(SearchRequest(query="flight", filters=filters))
    assert {h.id for h in result.hits} == by_native("e2")
    result = loaded_kb.search_messages(SearchRequest(filters=SearchFilters(tags=["VIP"], languages=["en"])))
    assert {h.id for h in result.hits} == by_native("t1", "t2", "f1")


def test_sorting_and_cursor_paging_agree(loaded_kb: KnowledgeBase) -> None:
    oldest = loaded_kb.search_messages(SearchRequest(sort="oldest", limit=50))
    assert [h.document.native_id for h in oldest.hits] == ["t1", "t2", "e1", "e2", "f1", "f2", "r1", "s1"]
    pages: list[str] = []
    cursor = None
    for _ in range(10):
        page = loaded_kb.search_messages(
            SearchRequest(query="-status:resolved", sort="oldest", limit=3, cursor=cursor)
        )
        pages += [h.document.native_id for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == ["t1", "t2", "e1", "e2", "r1", "s1"]


def test_conversation_search(loaded_kb: KnowledgeBase) -> None:
    listing = loaded_kb.search_conversations(SearchRequest(facets=["status", "tags", "channel"]))
    assert [h.id for h in listing.hits] == ["cnv_e", "cnv_d", "cnv_c", "cnv_b", "cnv_a"]
    assert listing.total == 5
    facets = {name: [(b.value, b.count) for b in buckets] for name, buckets in listing.facets.items()}
    assert facets["status"] == [("open", 3), ("pending", 1), ("resolved", 1)]
    assert facets["tags"] == [("vip", 2), ("press", 1)]
    found = loaded_kb.search_conversations(SearchRequest(query="delayed OR refund"))
    assert {h.id for h in found.hits} == {"cnv_a", "cnv_b", "cnv_c", "cnv_e"} and found.total == 4
    open_only = loaded_kb.search_conversations(
        SearchRequest(query="delayed OR refund", filters=SearchFilters(statuses=["open"]))
    )
    assert {h.id for h in open_only.hits} == {"cnv_a", "cnv_e"}
    by_author = loaded_kb.search_conversations(SearchRequest(query="author:ann"))
    assert [h.id for h in by_author.hits] == ["cnv_a"]


def test_conversation_search_matches_retitled_subjects(loaded_kb: KnowledgeBase) -> None:
    loaded_kb.upsert_conversations([CONVERSATIONS[4].model_copy(update={"subject": "Warranty claim"})])
    found = loaded_kb.search_conversations(SearchRequest(query="warranty OR lisbon"))
    assert [h.id for h in found.hits] == ["cnv_b", "cnv_e"]  # message matches rank first
    # every backend highlights conversation subjects, with the same highlighter
    assert found.hits[1].highlights == {"subject": ["<mark>Warranty</mark> claim"]}
    quiet = loaded_kb.search_conversations(SearchRequest(query="warranty", highlight=False))
    assert [h.highlights for h in quiet.hits] == [{}]
    assert loaded_kb.search_conversations(SearchRequest(query="warranty channel:sms")).total == 0
    assert loaded_kb.search_messages(SearchRequest(query="warranty")).total == 0


def test_triage_updates_are_searchable_at_once(loaded_kb: KnowledgeBase) -> None:
    loaded_kb.update_conversation("cnv_d", {"status": "resolved", "assignee": "Zoe", "tags": ["press"]})
    result = loaded_kb.search_messages(SearchRequest(query="tag:press status:resolved assignee:zoe"))
    assert {h.id for h in result.hits} == by_native("r1")
    listing = loaded_kb.search_conversations(SearchRequest(filters=SearchFilters(assignees=["Zoe"])))
    assert [h.id for h in listing.hits] == ["cnv_d"]


def test_counts_and_iteration(loaded_kb: KnowledgeBase) -> None:
    assert loaded_kb.count_messages() == len(MESSAGES)
    assert loaded_kb.count_conversations() == len(CONVERSATIONS)
    assert sorted(m.id for m in loaded_kb.iter_messages(batch_size=3)) == sorted(m.id for m in MESSAGES)
    assert loaded_kb.get_message(MESSAGES[0].id) == MESSAGES[0]
    assert loaded_kb.upsert_messages(MESSAGES).unchanged == [m.id for m in MESSAGES]


_WORDS = [
    "refund",
    "flight",
    "delayed",
    "money",
    '"money back"',
    '"flight was delayed"',
    "ref*",
    "del*",
    "café",
    "lisbon",
    "ann",
    "parley",
    "three",
    "voucher",
    "channel:email",
    "channel:twitter",
    "lang:fr",
    "sentiment:negative",
    "status:open",
    "tag:vip",
    "hashtag:fail",
    "author:ann",
    "site:example.com",
    "entity:lisbon",
    "intent:complaint",
]
_OPS = [" ", " AND ", " OR ", " -", " NOT ", " NEAR/1 ", " NEAR/2f ", " NEAR/0 "]


def _overlap(a: str, b: str) -> bool:
    """Whether two operands could match the same word (compared on 3-letter prefixes)."""
    return bool({w[:3] for w in a.strip('"*').split()} & {w[:3] for w in b.strip('"*').split()})


def _random_queries(count: int, seed: int) -> list[str]:
    """Random well-mixed queries; NEAR never joins words that share a token (degenerate)."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        parts = [rng.choice(_WORDS)]
        for _ in range(rng.randint(0, 4)):
            op = rng.choice(_OPS)
            word = rng.choice(_WORDS)
            if "NEAR" in op and (":" in word or _overlap(word, parts[-1])):
                op = " OR "
            parts += [op, word]
        query = "".join(parts)
        if rng.random() < 0.3:
            cut = rng.randrange(len(parts))
            query = "".join(parts[:cut]) + "(" + "".join(parts[cut:]) + ")"
        out.append(query)
    return out


def test_random_queries_agree_with_the_matcher(loaded_kb: KnowledgeBase) -> None:
    conversations = {c.id: c for c in CONVERSATIONS}
    checked = 0
    for query in _random_queries(300, seed=7):
        try:
            result = loaded_kb.search_messages(SearchRequest(query=query, limit=50))
        except QuerySyntaxError:
            continue  # e.g. NEAR next to a group; the matcher refuses the same queries
        match = compile_matcher(query)
        expected = {m.id for m in MESSAGES if match(m, conversations[str(m.conversation_id)])}
        assert {h.id for h in result.hits} == expected, query
        assert result.total == len(expected), query
        checked += 1
    assert checked > 200


def _rollup(conversation_id: str, count: int, **extra: object) -> Conversation:
    """A rollup as the flow computes it: derived fields, default triage state."""
    base = next(c for c in CONVERSATIONS if c.id == conversation_id)
    return Conversation.model_validate(
        {
            "id": conversation_id,
            "channel": base.channel,
            "subject": f"subject {count}",
            "snippet": f"latest text {count}",
            "participants": ["author-1"],
            "first_message_at": base.first_message_at,
            "last_message_at": base.last_message_at,
            # recomputed from the messages already stored: no inbound message is new
            "last_inbound_at": base.last_inbound_at,
            "message_count": count,
            "inbound_count": count - 1,
            "sentiment_avg": -0.25,
            "sentiment_min": -0.5,
            "sentiment_last": 0.1,
            "languages": ["en", "de"],
            **extra,
        }
    )


def test_save_rollups_creates_a_missing_conversation(empty_kb: KnowledgeBase) -> None:
    empty_kb.upsert_messages(MESSAGES)
    # triage fields on a rollup are not the flow's to set: a new document gets the defaults
    empty_kb.save_rollups([_rollup("cnv_a", 2, assignee="nobody", status="resolved", tags=["x"])])
    stored = empty_kb.get_conversation("cnv_a")
    assert stored is not None
    assert (stored.channel, stored.account, stored.subject) == ("twitter", "default", "subject 2")
    assert (stored.message_count, stored.inbound_count, stored.languages) == (2, 1, ["en", "de"])
    assert (stored.status, stored.assignee, stored.queue, stored.priority, stored.tags) == (
        "open",
        None,
        None,
        "normal",
        [],
    )
    assert empty_kb.count_conversations() == 1
    # the new conversation's state reaches its messages
    found = empty_kb.search_messages(SearchRequest(query="status:open", filters=_in("cnv_a")))
    assert {h.id for h in found.hits} == by_native("t1", "t2")


def _in(*conversation_ids: str) -> SearchFilters:
    return SearchFilters(conversation_ids=list(conversation_ids))


def test_a_routing_projection_is_never_written_over_a_newer_one(loaded_kb: KnowledgeBase) -> None:
    """Projections of routing rows (``triage_version``) land in any order; the document keeps
    the newest, whichever write carries the older one (``kb.conversations.apply_triage``)."""
    newer = {"status": "pending", "assignee": "bob", "tags": ["vip"], "triage_version": 3}
    older = {"status": "open", "assignee": "ann", "tags": [], "triage_version": 2}
    loaded_kb.update_conversation("cnv_a", newer)
    refused = loaded_kb.update_conversation("cnv_a", older)
    assert refused is not None and (refused.assignee, refused.triage_version) == ("bob", 3)
    # the roll-up write's triage too; its derived fields are still written, and the refused
    # projection does not reopen it by the knowledge base's own rule (the table decides status)
    loaded_kb.save_rollups([_rollup("cnv_a", 5)], reopen={"cnv_a"}, triage={"cnv_a": older})
    stored = loaded_kb.get_conversation("cnv_a")
    assert stored is not None and stored.subject == "subject 5"
    triage = (stored.status, stored.assignee, stored.tags, stored.triage_version)
    assert triage == ("pending", "bob", ["vip"], 3)
    found = loaded_kb.search_conversations(SearchRequest(query="assignee:bob"))
    assert [c.id for c in found.hits] == ["cnv_a"]
    # the same version again writes nothing new; a newer one is written
    loaded_kb.update_conversation("cnv_a", {**older, "triage_version": 4})
    stored = loaded_kb.get_conversation("cnv_a")
    assert stored is not None and (stored.assignee, stored.triage_version) == ("ann", 4)
    # a change without a version (no routing table) is written and keeps the version
    loaded_kb.update_conversation("cnv_a", {"assignee": "cyd"})
    stored = loaded_kb.get_conversation("cnv_a")
    assert stored is not None and (stored.assignee, stored.triage_version) == ("cyd", 4)
    with pytest.raises(ValueError):
        loaded_kb.update_conversation("cnv_a", {"triage_version": -1})


def test_save_rollups_keeps_triage_changed_after_a_stale_read(loaded_kb: KnowledgeBase) -> None:
    stale = loaded_kb.get_conversation("cnv_a")
    assert stale is not None and stale.assignee == "dana"
    # the flow computed its rollup from the read above; then an agent triaged the conversation
    rollup = _rollup("cnv_a", 3, status=stale.status, assignee=stale.assignee, tags=stale.tags)
    changes = {"status": "resolved", "assignee": "Zoe", "tags": ["escalated"], "queue": "billing"}
    loaded_kb.update_conversation("cnv_a", changes)
    loaded_kb.save_rollups([rollup])
    stored = loaded_kb.get_conversation("cnv_a")
    assert stored is not None
    assert (stored.status, stored.assignee, stored.tags, stored.queue) == (
        "resolved",
        "Zoe",
        ["escalated"],
        "billing",
    )
    assert (stored.message_count, stored.inbound_count, stored.snippet) == (3, 2, "latest text 3")
    assert stored.sentiment_min == -0.5 and stored.participants == ["author-1"]
    found = loaded_kb.search_messages(SearchRequest(query="assignee:zoe status:resolved tag:escalated"))
    assert {h.id for h in found.hits} == by_native("t1", "t2")
    # other conversations are untouched, and saving the same rollup again changes nothing
    assert loaded_kb.get_conversation("cnv_b") == CONVERSATIONS[1]
    loaded_kb.save_rollups([rollup])
    assert loaded_kb.get_conversation("cnv_a") == stored


def test_save_rollups_reopens_only_what_it_is_asked_to(loaded_kb: KnowledgeBase) -> None:
    # cnv_a is open (assigned to dana), cnv_b pending, cnv_c resolved
    rollups = [_rollup("cnv_a", 3), _rollup("cnv_b", 3), _rollup("cnv_c", 3)]
    loaded_kb.save_rollups(rollups, reopen={"cnv_a", "cnv_c"})
    stored = loaded_kb.get_conversations(["cnv_a", "cnv_b", "cnv_c"])
    assert {cid: c.status for cid, c in stored.items()} == {
        "cnv_a": "open",
        "cnv_b": "pending",
        "cnv_c": "open",
    }
    assert stored["cnv_a"].assignee == "dana" and stored["cnv_c"].tags == ["press", "vip"]
    assert all(c.message_count == 3 for c in stored.values())
    found = loaded_kb.search_messages(SearchRequest(query="status:open", filters=_in("cnv_c")))
    assert {h.id for h in found.hits} == by_native("f1", "f2")

    loaded_kb.save_rollups([_rollup("cnv_b", 4)], reopen=["cnv_b"])
    reopened = loaded_kb.get_conversation("cnv_b")
    assert reopened is not None and reopened.status == "open" and reopened.queue == "travel"
    assert reopened.message_count == 4


def test_save_rollups_reopens_on_a_newer_inbound_message_without_being_told(
    loaded_kb: KnowledgeBase,
) -> None:
    # A crash after the messages were written but before their rollup was saved: the replay
    # finds the messages unchanged, so the flow's reopen set is empty, yet the rollup counts
    # an inbound message newer than the stored conversation has seen.
    seen = datetime(2026, 11, 6, 9, tzinfo=UTC)
    loaded_kb.save_rollups([_rollup(cid, 2, last_inbound_at=seen) for cid in ("cnv_a", "cnv_b", "cnv_c")])
    assert {c.status for c in loaded_kb.get_conversations(["cnv_b", "cnv_c"]).values()} == {"open"}
    loaded_kb.update_conversation("cnv_b", {"status": "pending"})
    loaded_kb.update_conversation("cnv_c", {"status": "resolved"})

    # the same inbound time again (a replay after the rollup was saved): triage stays
    loaded_kb.save_rollups(
        [_rollup("cnv_b", 2, last_inbound_at=seen), _rollup("cnv_c", 2, last_inbound_at=seen)]
    )
    kept = loaded_kb.get_conversations(["cnv_b", "cnv_c"])
    assert (kept["cnv_b"].status, kept["cnv_c"].status) == ("pending", "resolved")
    # an older one (an outbound reply rolled up from a stale read) does not reopen either
    earlier = seen - timedelta(days=1)
    loaded_kb.save_rollups([_rollup("cnv_c", 2, last_inbound_at=earlier)])
    assert loaded_kb.get_conversation("cnv_c").status == "resolved"  # type: ignore[union-attr]

    newer = seen + timedelta(minutes=5)
    naive = newer.replace(tzinfo=None)  # stored times may be naive (UTC): still comparable
    loaded_kb.save_rollups(
        [_rollup("cnv_b", 3, last_inbound_at=newer), _rollup("cnv_c", 3, last_inbound_at=naive)], reopen=()
    )
    stored = loaded_kb.get_conversations(["cnv_a", "cnv_b", "cnv_c"])
    assert {cid: c.status for cid, c in stored.items()} == {"cnv_a": "open", "cnv_b": "open", "cnv_c": "open"}
    assert stored["cnv_b"].queue == "travel" and stored["cnv_c"].tags == ["press", "vip"]
    assert stored["cnv_a"].assignee == "dana"
    found = loaded_kb.search_messages(SearchRequest(query="status:open", filters=_in("cnv_b", "cnv_c")))
    assert {h.id for h in found.hits} == by_native("e1", "e2", "f1", "f2")


@pytest.fixture
def tokyo_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's local timezone is nine hours ahead of UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_naive_since_and_until_are_utc(loaded_kb: KnowledgeBase, tokyo_server: None) -> None:
    filters = SearchFilters(since=datetime(2026, 11, 2, 10), until=datetime(2026, 11, 2, 11, 30))
    assert filters.since == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert filters.until is not None and filters.until.tzinfo is UTC
    aware = SearchFilters(since=datetime(2026, 11, 2, 10, tzinfo=UTC), until=filters.until)
    assert filters == aware
    # t1 (09:00 UTC) is before, t2 (11:00 UTC) inside; read as Tokyo time neither would be
    found = loaded_kb.search_messages(SearchRequest(filters=filters))
    assert {h.id for h in found.hits} == by_native("t2")
    listed = loaded_kb.search_conversations(SearchRequest(filters=filters))
    assert [h.id for h in listed.hits] == ["cnv_a"]  # last message at 11:00 UTC
    # an aware time in another zone is kept as it is (the same instant)
    tokyo = timezone(timedelta(hours=9))
    shifted = SearchFilters(since=datetime(2026, 11, 2, 19, tzinfo=tokyo))
    assert shifted.since is not None and shifted.since.utcoffset() == timedelta(hours=9)
    later = {h.id for h in loaded_kb.search_messages(SearchRequest(filters=shifted)).hits}
    assert by_native("t2") <= later and not by_native("t1") & later
