"""ElasticsearchKB through the real client against a wire-level stand-in (see fake_es.py).

Checks requests and response handling: templates with the analyzer, bulk with 429 retry and
per-document errors, denormalised conversation state, unchanged detection, paging fields.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from hub.errors import FatalError, InvalidInput, ParleyError, RetriableError
from hub.models import Conversation
from hub.settings import ElasticsearchSettings, Settings
from kb.base import SearchRequest
from kb.elasticsearch import ElasticsearchKB
from kb.elasticsearch.query import compile_node
from kb.elasticsearch.search import MAX_CONVERSATION_MATCHES
from kb.elasticsearch.store import CONFLICT_ATTEMPTS
from kb.query import parse_query
from kb.search_rules import message_highlights
from tests.kb.docs import CONVERSATIONS, MESSAGES
from tests.kb.elasticsearch.fake_es import FakeElasticsearch
from tests.kb.test_deep_queries import DEEPEST


@pytest.fixture
def kb(fake_kb: ElasticsearchKB) -> ElasticsearchKB:
    return fake_kb


def test_indices_are_created_from_templates_with_the_analyzer(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    assert set(fake.templates) == {"t-messages", "t-conversations"}
    template = fake.templates["t-messages"]["template"]
    # text arrives analysed per language (kb.languages): the analyzer only splits on spaces
    analyzer = template["settings"]["analysis"]["analyzer"]["parley_analysed"]
    assert analyzer == {"type": "custom", "tokenizer": "parley_spaces", "filter": []}
    assert template["mappings"]["properties"]["text"] == {"type": "text", "analyzer": "parley_analysed"}
    assert template["mappings"]["_meta"] == {"parley_layout": 2}
    assert template["mappings"]["properties"]["channel"] == {"type": "keyword"}
    assert set(fake.indices) == {"t-messages", "t-conversations"}
    # existing indices get what they can take in place: eager global ordinals for conversation_id
    eager = {"type": "keyword", "eager_global_ordinals": True}
    assert template["mappings"]["properties"]["conversation_id"] == eager
    assert ("PUT", "t-messages/_mapping", {"properties": {"conversation_id": eager}}) in fake.requests


def test_bulk_upsert_retries_429_and_reports_rejections(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    fake.throttle.add(MESSAGES[0].id)
    fake.reject.add(MESSAGES[1].id)
    result = kb.upsert_messages(MESSAGES)
    assert MESSAGES[0].id in result.created  # throttled once, then retried and written
    assert result.errors == {MESSAGES[1].id: "400: failed to parse"}
    assert MESSAGES[1].id not in result.created
    assert len(result.created) == len(MESSAGES) - 1
    stored = fake.indices["t-messages"][MESSAGES[0].id]
    assert stored["doc"] == MESSAGES[0].model_dump(mode="json")
    assert stored["f_hashtag"] == ["fail"] and stored["conv_status"] is None

    again = kb.upsert_messages(MESSAGES[:3])
    assert again.unchanged == [MESSAGES[0].id, MESSAGES[2].id]
    assert again.errors == {MESSAGES[1].id: "400: failed to parse"} and not again.created
    fake.reject.clear()
    assert kb.upsert_messages(MESSAGES[:3]).created == [MESSAGES[1].id]


def test_new_conversations_push_their_state_onto_messages(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    kb.upsert_messages(MESSAGES)
    result = kb.upsert_conversations(CONVERSATIONS)
    assert sorted(result.created) == sorted(c.id for c in CONVERSATIONS)
    updates = [body for method, path, body in fake.requests if path.endswith("_update_by_query")]
    assert len(updates) == 1
    params = updates[0]["script"]["params"]["convs"]
    assert params["cnv_a"] == {
        "status": "open",
        "assignee": "dana",
        "assignee_f": "dana",
        "queue": None,
        "tag": ["vip"],
    }
    assert kb.upsert_conversations(CONVERSATIONS).unchanged == [c.id for c in CONVERSATIONS]
    # a message written after its conversation gets the state directly
    kb.upsert_messages([MESSAGES[0].model_copy(update={"text": "edited"})])
    assert fake.indices["t-messages"][MESSAGES[0].id]["conv_tag"] == ["vip"]
    changed = kb.update_conversation("cnv_a", {"status": "resolved"})
    assert changed is not None and changed.status == "resolved"
    assert kb.get_conversation("cnv_a") == changed


def test_search_request_shape_and_response_reading(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    kb.upsert_messages(MESSAGES)
    result = kb.search_messages(
        SearchRequest(query='refund -"money back"', facets=["channel", "tags"], histogram="day", limit=3)
    )
    body = next(b for m, p, b in reversed(fake.requests) if p == "t-messages/_search")
    assert body["track_total_hits"] is True and body["size"] == 4  # exact unless a limit is asked
    assert body["sort"] == [{"_score": "desc"}, {"id": "asc"}]
    assert body["aggs"]["f_tags"]["terms"]["field"] == "conv_tag"
    assert body["aggs"]["histogram"]["date_histogram"]["calendar_interval"] == "day"
    # highlights come from the highlighter both backends share, not from Elasticsearch
    assert "highlight" not in body
    query = parse_query('refund -"money back"')
    assert [h.highlights for h in result.hits] == [message_highlights(h.document, query) for h in result.hits]
    assert any("<mark>Refund" in " ".join(h.highlights.get("text", [])) for h in result.hits)
    assert result.total == len(MESSAGES) and len(result.hits) == 3 and result.next_cursor
    assert result.histogram[0].count == 1 and result.facets == {"channel": [], "tags": []}
    assert result.total_relation == "eq"
    kb.search_messages(SearchRequest(query="refund", cursor=result.next_cursor))
    body = next(b for m, p, b in reversed(fake.requests) if p == "t-messages/_search")
    assert body["search_after"] == [1.0, result.hits[-1].id]
    assert [m.id for m in kb.iter_messages(batch_size=3)] == sorted(m.id for m in MESSAGES)
    assert kb.count_messages() == len(MESSAGES)
    assert kb.conversation_messages("cnv_a")  # parses the canned hits


def test_offset_paging_past_the_window_is_invalid_input(kb: ElasticsearchKB) -> None:
    for search in (kb.search_messages, kb.search_conversations):
        with pytest.raises(InvalidInput, match="page with the cursor"):
            search(SearchRequest(offset=10_000, limit=1))


def test_conversation_search_by_relevance(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    kb.upsert_conversations(CONVERSATIONS)
    found = kb.search_conversations(SearchRequest(query="refund", facets=["status"]))
    ranked = next(b for m, p, b in fake.requests if p == "t-messages/_search")
    terms = ranked["aggs"]["conversations"]["terms"]
    assert terms["field"] == "conversation_id" and terms["order"][0] == {"rank": "desc"}
    assert ranked["aggs"]["conversations"]["aggs"]["rank"] == {"max": {"script": {"source": "_score"}}}
    filtered = next(b for m, p, b in reversed(fake.requests) if p == "t-conversations/_search")
    # no message matched: only a subject match can qualify a conversation
    subject = compile_node(parse_query("refund"), fields=("subject",))  # type: ignore[arg-type]
    assert {"multi_match": {"query": "refund", "type": "phrase", "fields": ["subject"]}} in [
        part["bool"]["must"][0] for part in subject["bool"]["should"]
    ]
    matched = {"bool": {"should": [{"ids": {"values": []}}, subject], "minimum_should_match": 1}}
    assert matched in filtered["query"]["bool"]["filter"]
    assert filtered["aggs"]["f_status"]["terms"]["field"] == "status"
    # Conversations matched by their subject alone are found by this request: it is sized by
    # the cap, not by the conversations found through messages (none here: it used to ask for
    # 0 hits, and a retitled conversation was never found), and asks for ids only.
    assert filtered["size"] == MAX_CONVERSATION_MATCHES and filtered["_source"] is False
    assert len(found.hits) == len(CONVERSATIONS)  # the fake matches every document
    listing = kb.search_conversations(SearchRequest(limit=2))
    assert len(listing.hits) == 2 and listing.next_cursor
    body = next(b for m, p, b in reversed(fake.requests) if p == "t-conversations/_search")
    assert body["sort"][0] == {"last_message_at": {"order": "desc", "missing": "_last"}}


def test_conversation_search_by_date_neither_scores_nor_scripts(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    kb.upsert_conversations(CONVERSATIONS)
    for sort, direction in (("newest", "desc"), ("oldest", "asc")):
        kb.search_conversations(SearchRequest(query="refund channel:email", sort=sort))
        ranked = next(b for m, p, b in reversed(fake.requests) if p == "t-messages/_search")
        assert "must" not in ranked["query"]["bool"]  # filter context: no scores, cacheable
        assert ranked["aggs"]["conversations"]["aggs"]["rank"] == {"max": {"field": "created_at"}}
        assert ranked["aggs"]["conversations"]["terms"]["order"][0] == {"rank": direction}
        assert "script" not in json.dumps(ranked) and ranked["track_total_hits"] is False
        listed = next(b for m, p, b in reversed(fake.requests) if p == "t-conversations/_search")
        assert listed["size"] == 21 and listed["_source"] == {"includes": ["doc"]}  # paged by ES


def test_a_writer_sees_its_own_messages_in_conversation_reads(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    kb.upsert_messages(MESSAGES[:2])
    before = len([p for m, p, b in fake.requests if p.endswith("_refresh")])
    kb.conversation_messages("cnv_a")
    kb.conversation_messages("cnv_a")  # nothing new written: no second refresh
    refreshes = [p for m, p, b in fake.requests if p.endswith("_refresh")]
    assert len(refreshes) == before + 1 and refreshes[-1] == "t-messages/_refresh"


def test_drop_removes_indices_and_templates(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    kb.drop()
    assert fake.indices == {} and fake.templates == {}


def _agent_triages(fake: FakeElasticsearch, conversation_id: str, **changes: object) -> None:
    """What another process's update_conversation does: a new version of the document."""
    source = dict(fake.indices["t-conversations"][conversation_id])
    source["doc"] = {**source["doc"], **changes}
    source.update({k: v for k, v in changes.items() if k in ("status", "assignee")})
    fake.store("t-conversations", conversation_id, source)


def test_save_rollups_redoes_a_write_that_lost_a_race(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    kb.upsert_messages(MESSAGES)
    kb.upsert_conversations(CONVERSATIONS)
    rollup = Conversation(id="cnv_a", channel="twitter", message_count=3, inbound_count=3, snippet="new")
    # the agent's change lands after save_rollups read cnv_a, before its conditional write
    fake.before_write.append(lambda: _agent_triages(fake, "cnv_a", status="resolved", assignee="zoe"))
    kb.save_rollups([rollup, Conversation(id="cnv_new", channel="sms", message_count=1)])
    stored = kb.get_conversation("cnv_a")
    assert stored is not None
    assert (stored.status, stored.assignee, stored.tags) == ("resolved", "zoe", ["VIP"])
    assert (stored.message_count, stored.snippet) == (3, "new")
    created = kb.get_conversation("cnv_new")
    assert created is not None and created.status == "open" and created.message_count == 1
    bulks = [b for m, p, b in fake.requests if p == "_bulk"]
    first, retry = bulks[-2], bulks[-1]
    assert {"create": {"_index": "t-conversations", "_id": "cnv_new"}} in first
    conditional = [a["index"] for a in first + retry if "if_seq_no" in a.get("index", {})]
    assert [a["_id"] for a in conditional] == ["cnv_a", "cnv_a"]
    assert conditional[0]["if_seq_no"] < conditional[1]["if_seq_no"]
    # only the new conversation's state is copied onto messages: the rollup left cnv_a's
    # triage state as the agent set it (whose own update_conversation restates it)
    update = [b for m, p, b in fake.requests if p.endswith("_update_by_query")][-1]
    assert list(update["script"]["params"]["convs"]) == ["cnv_new"]


def test_save_rollups_gives_up_as_retriable_when_always_raced(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    kb.upsert_conversations(CONVERSATIONS[:1])
    for n in range(CONFLICT_ATTEMPTS):
        fake.before_write.append(functools.partial(_agent_triages, fake, "cnv_a", assignee=f"agent-{n}"))
    with pytest.raises(RetriableError, match="cnv_a"):
        kb.save_rollups([Conversation(id="cnv_a", channel="twitter", message_count=9)])
    stored = kb.get_conversation("cnv_a")
    assert stored is not None and stored.assignee == f"agent-{CONFLICT_ATTEMPTS - 1}"


def test_save_rollups_reports_refused_documents(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    fake.reject.add("cnv_bad")
    with pytest.raises(ParleyError, match=r"cnv_bad.*failed to parse"):
        kb.save_rollups([Conversation(id="cnv_bad", channel="sms"), Conversation(id="cnv_ok", channel="sms")])
    assert kb.get_conversation("cnv_ok") is not None and kb.get_conversation("cnv_bad") is None


def test_update_conversation_applies_changes_to_the_fresh_copy_on_conflict(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    kb.upsert_conversations(CONVERSATIONS[:1])
    # a rollup lands between update_conversation's read and its conditional write
    fake.before_write.append(lambda: _agent_triages(fake, "cnv_a", message_count=7))
    updated = kb.update_conversation("cnv_a", {"assignee": "zoe"})
    assert updated is not None and (updated.assignee, updated.message_count) == ("zoe", 7)
    assert kb.get_conversation("cnv_a") == updated
    puts = [p for m, p, b in fake.requests if p == "t-conversations/_doc/cnv_a"]
    assert len(puts) == 2
    update = [b for m, p, b in fake.requests if p.endswith("_update_by_query")][-1]
    assert update["script"]["params"]["convs"]["cnv_a"]["assignee"] == "zoe"


def _bool_depth(tree: Any) -> int:
    """How many ``bool`` queries nest in a request body (Elasticsearch refuses more than 20)."""
    if isinstance(tree, list):
        return max((_bool_depth(item) for item in tree), default=0)
    if not isinstance(tree, dict):
        return 0
    return max((_bool_depth(v) + (key == "bool") for key, v in tree.items()), default=0)


@pytest.mark.parametrize("query", list(DEEPEST.values()), ids=list(DEEPEST))
def test_the_deepest_queries_stay_within_elasticsearchs_bool_depth(
    kb: ElasticsearchKB, fake: FakeElasticsearch, query: str
) -> None:
    kb.upsert_conversations(CONVERSATIONS)
    kb.upsert_messages(MESSAGES)
    before = len(fake.requests)
    kb.search_messages(SearchRequest(query=query))
    kb.search_conversations(SearchRequest(query=query, sort="relevance"))
    searches = [body for _, path, body in fake.requests[before:] if path.endswith("_search")]
    assert len(searches) == 3
    assert max(_bool_depth(body) for body in searches) <= 20  # indices.query.bool.max_nested_depth


def test_refresh_makes_both_indices_countable(kb: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    kb.refresh()  # what `parley ingest` does before counting conversations for its summary
    assert fake.requests[-1][:2] == ("POST", "t-messages,t-conversations/_refresh")


def test_totals_are_counted_up_to_the_limit_and_marked_as_lower_bounds(
    kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    kb.upsert_messages(MESSAGES)
    capped = kb.search_messages(SearchRequest(query="", total_limit=2, limit=1))
    body = next(b for m, p, b in reversed(fake.requests) if p == "t-messages/_search")
    assert body["track_total_hits"] == 2
    assert (capped.total, capped.total_relation) == (2, "gte") and len(capped.hits) == 1
    exact = kb.search_messages(SearchRequest(query="", total_limit=None, limit=1))
    body = next(b for m, p, b in reversed(fake.requests) if p == "t-messages/_search")
    assert body["track_total_hits"] is True
    assert (exact.total, exact.total_relation) == (len(MESSAGES), "eq")


def test_an_index_from_before_per_language_text_is_refused_but_still_read(
    fake: FakeElasticsearch, fake_kb: ElasticsearchKB, tmp_path: Path
) -> None:
    fake_kb.upsert_messages(MESSAGES)
    # an index created by an older Parley: its template had no layout
    fake.mappings["t-messages"] = {"properties": {"text": {"type": "text", "analyzer": "parley_text"}}}
    settings = Settings(
        data_dir=tmp_path, demo=False, es=ElasticsearchSettings(url=fake.url, index_prefix="t")
    )
    old = ElasticsearchKB.from_settings(settings)
    try:
        with pytest.raises(FatalError, match="parley kb migrate --to sqlite"):
            old.search_messages(SearchRequest(query="refund"))
        with pytest.raises(FatalError, match="text layout 1"):
            old.upsert_messages(MESSAGES[:1])
        assert len(list(old.iter_messages())) == len(MESSAGES)  # the documents can be copied out
    finally:
        old.close()
