"""An Elasticsearch outage is a RetriableError, never a batch of refused documents.

The ingest flow's KB step dead-letters what ``UpsertResult.errors`` names as refused. A bulk
request failing as a whole (502 from a proxy, 503 while a node restarts, 429 after the
helper's retries) or documents answered 429/5xx are passing conditions: they must raise
``RetriableError`` so the flow retries the batch, and only 4xx refusals (mapping errors)
become per-document errors. Run against the wire-level stand-in in fake_es.py.
"""

from __future__ import annotations

import pytest

from flows.kb_writer import WRITE_ATTEMPTS
from hub.backoff import retry
from hub.errors import ParleyError, RetriableError
from hub.models import Conversation
from kb.elasticsearch import ElasticsearchKB
from kb.elasticsearch.store import _errors
from tests.kb.docs import CONVERSATIONS, MESSAGES
from tests.kb.elasticsearch.fake_es import FakeElasticsearch

#: more failed bulk requests than one upsert makes (client retries x helper retries)
AWAY = 1000


def _stored(fake: FakeElasticsearch, index: str) -> set[str]:
    return set(fake.indices.get(index, {}))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_bulk_failing_as_a_whole_is_retriable(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch, status: int
) -> None:
    fake.bulk_failures = [status] * AWAY
    with pytest.raises(RetriableError, match=str(status)):
        fake_kb.upsert_messages(MESSAGES)
    assert fake.bulk_requests > 1  # retried before giving up
    assert _stored(fake, "t-messages") == set()
    # the cluster is back: the same batch is written, nothing was refused
    fake.bulk_failures = []
    result = fake_kb.upsert_messages(MESSAGES)
    assert sorted(result.created) == sorted(m.id for m in MESSAGES) and result.errors == {}


def test_a_short_outage_is_ridden_out_inside_one_upsert(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    fake.bulk_failures = [503, 502, 500]
    result = fake_kb.upsert_messages(MESSAGES)
    assert len(result.created) == len(MESSAGES) and result.errors == {}
    assert fake.bulk_failures == [] and fake.bulk_requests == 4


def test_the_flows_retry_policy_gets_the_batch_through_a_longer_outage(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    fake.bulk_failures = [502] * 30  # longer than one upsert's own retries
    result = retry("kb upsert", lambda: fake_kb.upsert_messages(MESSAGES), attempts=WRITE_ATTEMPTS)
    assert result.errors == {}  # so the flow dead-letters nothing
    assert _stored(fake, "t-messages") == {m.id for m in MESSAGES}


def test_per_document_429_and_5xx_are_retried_then_raised_4xx_are_refused(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    shard_hiccup, overloaded, unparsable = (m.id for m in MESSAGES[:3])
    fake.item_failures = {shard_hiccup: [500, 503], overloaded: [429] * AWAY}
    fake.reject.add(unparsable)
    with pytest.raises(RetriableError, match=overloaded) as raised:
        fake_kb.upsert_messages(MESSAGES)
    assert unparsable not in str(raised.value)  # a refusal is not a reason to retry
    # everything else was written, the hiccup after the helper's retries
    assert _stored(fake, "t-messages") == {m.id for m in MESSAGES} - {overloaded, unparsable}

    # the retried batch: the overloaded document goes in, the refused one is an error
    fake.item_failures = {}
    result = fake_kb.upsert_messages(MESSAGES)
    assert result.created == [overloaded]
    assert result.errors == {unparsable: "400: failed to parse"}
    assert len(result.unchanged) == len(MESSAGES) - 2


def test_save_rollups_in_an_outage_is_retriable_and_loses_no_restate(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    fake_kb.upsert_conversations(CONVERSATIONS[:1])
    fake.bulk_failures = [502] * AWAY
    with pytest.raises(RetriableError):
        fake_kb.save_rollups([Conversation(id="cnv_a", channel="twitter", message_count=5)])
    fake.bulk_failures = []

    # one conversation is written, the other's shard is away for good
    fake.item_failures = {"cnv_away": [503] * AWAY}
    with pytest.raises(RetriableError, match="cnv_away") as raised:
        fake_kb.save_rollups(
            [Conversation(id="cnv_new", channel="sms"), Conversation(id="cnv_away", channel="sms")]
        )
    assert not isinstance(raised.value, ParleyError) or isinstance(raised.value, RetriableError)
    assert fake_kb.get_conversation("cnv_new") is not None and fake_kb.get_conversation("cnv_away") is None
    # cnv_new's state reached its messages now: a retried batch finds it unchanged
    restated = [b for m, p, b in fake.requests if p.endswith("_update_by_query")][-1]
    assert "cnv_new" in restated["script"]["params"]["convs"]
    fake.item_failures = {}
    fake_kb.save_rollups(
        [Conversation(id="cnv_new", channel="sms"), Conversation(id="cnv_away", channel="sms")]
    )
    assert fake_kb.get_conversation("cnv_away") is not None


def test_a_refused_rollup_is_still_a_parley_error_not_retriable(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    fake.reject.add("cnv_bad")
    with pytest.raises(ParleyError) as raised:
        fake_kb.save_rollups([Conversation(id="cnv_bad", channel="sms")])
    assert not isinstance(raised.value, RetriableError)


@pytest.mark.parametrize(("status", "retriable"), [(408, True), (500, True), (507, True), (400, False)])
def test_api_errors_are_translated_by_status(status: int, retriable: bool) -> None:
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
    from elasticsearch import ApiError

    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "localhost", 9200))
    with pytest.raises(ParleyError) as raised, _errors("testing"):
        raise ApiError(f"status {status}", meta, {})
    assert isinstance(raised.value, RetriableError) is retriable
