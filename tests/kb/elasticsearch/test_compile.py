"""The Elasticsearch backend's pure parts: DSL compilation, mappings, settings, error translation.

These run everywhere; the behaviour suite (test_behaviour.py) runs the real cluster when
PARLEY_ES_URL is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.errors import FatalError, RetriableError
from hub.settings import ElasticsearchSettings, Settings
from kb.base import SearchFilters
from kb.elasticsearch import ElasticsearchKB
from kb.elasticsearch.documents import conversation_source, message_source
from kb.elasticsearch.query import CONVERSATION_MAPPINGS, MESSAGE_MAPPINGS, compile_node, message_filters
from kb.query import parse_query
from tests.kb.docs import CONVERSATIONS, MESSAGES
from tests.kb.test_behaviour import CASES


def _walk(tree: Any) -> list[str]:
    """Every key in a DSL tree."""
    if isinstance(tree, dict):
        return [k for key, value in tree.items() for k in [key, *_walk(value)]]
    if isinstance(tree, list):
        return [k for item in tree for k in _walk(item)]
    return []


@pytest.mark.parametrize("query", [q for q, expected in CASES if expected is not None and q.strip()])
def test_no_query_string_parser_is_ever_used(query: str) -> None:
    node = parse_query(query)
    if node is None:
        return
    keys = set(_walk(compile_node(node)))
    assert not keys & {"query_string", "simple_query_string", "regexp", "wildcard", "fuzzy"}


def _limited(tree: dict[str, Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """(analyses, query) of every reading of a compiled text leaf or NEAR limited by analysis."""
    candidates = [tree, *tree.get("bool", {}).get("should", [])]
    found = []
    for part in candidates:
        limited = part.get("bool", {})
        if "filter" in limited and "must" in limited:
            found.append((limited["filter"][0]["terms"]["analysis"], limited["must"][0]))
    return found


def _reading(tree: dict[str, Any], analysis: str) -> dict[str, Any]:
    """The query a compiled text leaf or NEAR runs on documents indexed with ``analysis``."""
    for names, query in _limited(tree):
        if analysis in names:
            return query
    assert not _limited(tree), f"no reading for {analysis}: {tree}"
    return tree  # one reading serves every analysis


def test_compiled_shapes() -> None:
    near = _reading(compile_node(parse_query("delay NEAR/2f flight")), "en")  # type: ignore[arg-type]
    rule = near["bool"]["should"][0]["intervals"]["text"]["all_of"]
    assert rule == {
        "intervals": [
            {"match": {"query": "delai", "max_gaps": 0, "ordered": True}},  # analysed as English
            {"match": {"query": "flight", "max_gaps": 0, "ordered": True}},
        ],
        "max_gaps": 2,
        "ordered": True,
    }
    prefix = _reading(compile_node(parse_query("refunding*")), "en")  # type: ignore[arg-type]
    assert prefix["bool"]["should"][0] == {"prefix": {"text": {"value": "refund"}}}  # stemmed, like FTS5
    phrase = _reading(compile_node(parse_query('"Money  back"')), "fr")  # type: ignore[arg-type]
    assert phrase == {
        "multi_match": {"query": "money back", "type": "phrase", "fields": ["text", "subject", "author"]}
    }
    english = _reading(compile_node(parse_query('"Money  back"')), "en")  # type: ignore[arg-type]
    assert english["multi_match"]["query"] == "monei back"
    fields = compile_node(parse_query("tag:VIP -status:resolved"))  # type: ignore[arg-type]
    assert fields == {
        "bool": {"must": [{"term": {"conv_tag": "vip"}}], "must_not": [{"term": {"conv_status": "resolved"}}]}
    }
    # only stop words in every analysis that has them, and no match where there are none
    the = compile_node(parse_query('"of the"'))  # type: ignore[arg-type]
    readers = {name for names, _ in _limited(the) for name in names}
    assert "en" not in readers and "fr" in readers and "xx" in readers


def test_filters_compile_to_terms_and_ranges() -> None:
    clauses = message_filters(SearchFilters(channels=["Email"], tags=["VIP"], since=MESSAGES[0].created_at))
    assert {"terms": {"channel": ["email"]}} in clauses
    assert {"terms": {"conv_tag": ["vip"]}} in clauses
    assert {"range": {"created_at": {"gte": "2026-11-02T09:00:00+00:00"}}} in clauses


def test_sources_fit_the_strict_mappings() -> None:
    for message in MESSAGES:
        source = message_source(message, CONVERSATIONS[0])
        assert set(source) <= set(MESSAGE_MAPPINGS["properties"])
        json.dumps(source)  # serialisable as sent
    source = message_source(MESSAGES[0], CONVERSATIONS[0])
    assert source["conv_tag"] == ["vip"] and source["conv_assignee_f"] == "dana"
    assert source["f_hashtag"] == ["fail"] and source["language"] == "en"
    for conversation in CONVERSATIONS:
        assert set(conversation_source(conversation)) <= set(CONVERSATION_MAPPINGS["properties"])


def test_from_settings_without_url_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_ES_URL", raising=False)
    with pytest.raises(FatalError, match="PARLEY_ES_URL"):
        ElasticsearchKB.from_settings(Settings(data_dir=tmp_path, demo=False))


def test_unreachable_cluster_is_retriable(tmp_path: Path) -> None:
    # CA certificates configured for an http:// URL are ignored rather than refused
    es = ElasticsearchSettings(url="http://127.0.0.1:9", request_timeout_s=2, ca_certs=tmp_path / "ca.pem")
    with pytest.raises(RetriableError, match="unreachable"):
        ElasticsearchKB.from_settings(Settings(data_dir=tmp_path, demo=False, es=es))


def test_bad_url_is_fatal(tmp_path: Path) -> None:
    es = ElasticsearchSettings(url="not a url at all")
    with pytest.raises(FatalError):
        ElasticsearchKB.from_settings(Settings(data_dir=tmp_path, demo=False, es=es))
