"""The typed fast path of v2 pages (``v2_structs``) against the JSON-values path (``v2``).

``parse_tweet_page`` decodes a page straight into typed structs when it has the shape X sends
and reads it with ``v2_structs``; anything else goes to ``parse_tweet_page_values``. Both must
give the same messages (dump, fields set), and every page the structs do not take must be left
whole to the values path, so its refusal and reason are the usual ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels.twitter.parse import parse_tweet_page, parse_tweet_page_values
from channels.twitter.v2_structs import typed_tweet_page
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Envelope, Message
from tests.channels.twitter.conftest import ANN_ID, BRAND_ID, FIXTURES, T1, T2, T3, envelope


def _dumps(messages: list[Message]) -> list[tuple[str, list[str], list[str] | None, list[str]]]:
    return [
        (
            m.model_dump_json(),
            sorted(m.model_fields_set),
            sorted(m.author.model_fields_set) if m.author else None,
            sorted(m.enrichment.model_fields_set),
        )
        for m in messages
    ]


def _outcome(parse: Any, env: Envelope) -> Any:
    try:
        return _dumps(parse(env))
    except (MalformedPayload, UnsupportedEvent) as exc:
        return f"{type(exc).__name__}: {exc}"


def _page(tweet: dict[str, Any] | None = None, **page: Any) -> dict[str, Any]:
    """A page of two tweets by Ann replying to the brand, with every field the poller asks for."""
    first = {
        "id": T1,
        "edit_history_tweet_ids": [T1],
        "text": "@AcmeHelp my kettle &amp; toaster broke #acme",
        "author_id": ANN_ID,
        "conversation_id": T3,
        "created_at": "2026-11-02T03:03:00.000Z",
        "lang": "en",
        "public_metrics": {"retweet_count": 0, "reply_count": 1, "like_count": 2, "quote_count": 0},
        "entities": {
            "mentions": [{"start": 0, "end": 9, "username": "AcmeHelp", "id": BRAND_ID}],
            "hashtags": [{"start": 40, "end": 45, "tag": "acme"}],
            "urls": [
                {"start": 1, "end": 2, "url": "https://t.co/x", "expanded_url": "https://acme.example/p"}
            ],
        },
        "referenced_tweets": [{"type": "replied_to", "id": T3}],
        "in_reply_to_user_id": BRAND_ID,
        "attachments": {"media_keys": ["3_1"]},
        "geo": {"place_id": "01a9a39529b27f36"},
    }
    second = {"id": T2, "text": "RT @AcmeHelp: hello", "author_id": BRAND_ID}
    document: dict[str, Any] = {
        "data": [first | (tweet or {}), second],
        "includes": {
            "users": [
                {"id": ANN_ID, "name": "Ann", "username": "ann", "verified": False,
                 "public_metrics": {"followers_count": 12}},
                {"id": BRAND_ID, "name": "Acme", "username": "AcmeHelp", "verified": True},
            ],
            "tweets": [{"id": T3, "text": "We are here to help!", "author_id": BRAND_ID}],
            "media": [{"media_key": "3_1", "type": "photo", "url": "https://pbs.example/m.jpg"}],
            "places": [{"id": "01a9a39529b27f36", "full_name": "Leeds, England", "country_code": "GB"}],
        },
        "meta": {"result_count": 2},
    }  # fmt: skip
    document.update(page)
    return document


def _envelope(payload: Any) -> Envelope:
    return envelope("tweet_page__empty", payload=payload)


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("tweet_page__*.json")))
def test_fixtures_parse_alike_on_both_paths(name: str) -> None:
    env = envelope(name)
    assert _outcome(parse_tweet_page, env) == _outcome(parse_tweet_page_values, env)


def test_the_usual_pages_take_the_typed_path() -> None:
    for name in ("tweet_page__mentions", "tweet_page__lookup_not_found"):
        assert typed_tweet_page(envelope(name)) is not None
    for payload in (json.dumps(_page()).encode(), json.dumps(_page()), json.dumps(_page(for_user_id=ANN_ID))):
        typed = typed_tweet_page(_envelope(payload))
        assert typed is not None
        assert _dumps(typed) == _dumps(parse_tweet_page_values(_envelope(payload)))
        # built without a second validation: pydantic agrees with it
        assert [Message.model_validate(m.model_dump()) for m in typed] == typed


@pytest.mark.parametrize(
    ("tweet", "page"),
    [
        ({"public_metrics": {"like_count": 2**70}}, {}),  # orjson makes a float of it
        ({"edit_history_tweet_ids": [T1, 2**64]}, {}),
        ({"id": "١٢"}, {}),  # digits, not ASCII ones
        ({"author_id": 4000000002}, {}),  # a number: v2 takes it
        ({"created_at": "2026-11-02T03:03:00+02:00"}, {}),  # not X's form: v2 reads it
        ({"created_at": "2026-11-02T03:03:00"}, {}),  # v2 takes it as UTC
        ({"created_at": "noon Z"}, {}),  # v2 refuses it, with its reason
        ({"entities": {"hashtags": [{"tag": ""}]}}, {}),  # entity_metadata reads it
        ({"entities": {"mentions": [], "user_mentions": [{"screen_name": "ann"}]}}, {}),  # v1.1's
        ({"entities": {"urls": [{"url": "https://t.co/x", "unwound": None}]}}, {}),
        ({"entities": {"urls": [{"url": ""}]}}, {}),
        ({"referenced_tweets": [{"type": "quoted", "id": 5}]}, {}),
        ({"text": None, "note_tweet": {"text": "the long text"}}, {}),
        ({"geo": []}, {}),
        ({}, {"errors": [{"resource_type": "tweet", "parameter": "ids", "resource_id": "x",
                          "type": "https://api.twitter.com/2/problems/resource-not-found"}]}),
        ({}, {"for_user_id": "ann"}),
        ({}, {"includes": []}),
        ({}, {"data": {"id": T1, "text": "a page of one object"}}),
    ],
)  # fmt: skip
def test_shapes_the_structs_do_not_take_are_left_whole_to_the_values_path(
    tweet: dict[str, Any], page: dict[str, Any]
) -> None:
    env = _envelope(json.dumps(_page(tweet, **page)).encode())
    assert typed_tweet_page(env) is None
    assert _outcome(parse_tweet_page, env) == _outcome(parse_tweet_page_values, env)


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps(_page()).encode().replace(b'"meta"', b'"bad": "\xff", "meta"'),  # not UTF-8
        json.dumps(_page()).encode().replace(b'"meta"', b'"bad": "\\ud800", "meta"'),  # lone surrogate
        json.dumps(_page()).encode().replace(b'"meta"', b'"bad": NaN, "meta"'),
        b"[" * 5000 + b"]" * 5000,
        b"",
        json.dumps(_page()).encode() + b" trailing",
    ],
)
def test_what_msgspec_refuses_or_skips_unread_is_decided_by_the_values_path(payload: bytes) -> None:
    env = _envelope(payload)
    assert typed_tweet_page(env) is None
    assert _outcome(parse_tweet_page, env) == _outcome(parse_tweet_page_values, env)


def test_duplicate_keys_read_as_json_reads_them() -> None:
    raw = json.dumps(_page()).replace('"lang": "en"', '"lang": "en", "lang": "fr"', 1).encode()
    env = _envelope(raw)
    typed = typed_tweet_page(env)
    assert typed is not None and typed[0].language == "fr"
    assert _dumps(typed) == _dumps(parse_tweet_page_values(env))
