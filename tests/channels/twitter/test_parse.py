"""The Twitter/X parsers over hand-written payloads: every event and variant, by envelope kind."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from channels import parse_envelope
from channels.twitter.fields import entity_metadata
from channels.twitter.parse import PARSERS
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Direction, Message, message_id
from tests.channels.twitter.conftest import (
    ANN_ID,
    BOB_ID,
    BRAND_ID,
    FIXTURES,
    T1,
    T2,
    T3,
    T4,
    T5,
    envelope,
    load,
)

#: what every fixture becomes: the number of messages, or the error it raises
OUTCOMES: dict[str, int | type[Exception]] = {
    "tweet_page__mentions": 5,
    "tweet_page__lookup_not_found": 3,
    "tweet_page__users": UnsupportedEvent,
    "tweet_page__empty": 0,
    "tweet_page__problem": MalformedPayload,
    "tweet_page__mixed": MalformedPayload,
    "tweet_page__bad_id": MalformedPayload,
    "stream_line__tweet": 1,
    "stream_line__compliance_delete": 1,
    "stream_line__notice": UnsupportedEvent,
    "dm_events__conversation": 2,
    "dm_events__joins_only": UnsupportedEvent,
    "aaa_event__tweet_create": 1,
    "aaa_event__direct_message": 1,
    "aaa_event__tweet_delete": 1,
    "aaa_event__favorite": UnsupportedEvent,
    "aaa_event__follow": UnsupportedEvent,
    "aaa_event__typing": UnsupportedEvent,
    "aaa_event__mark_read": UnsupportedEvent,
    "aaa_event__revoke": UnsupportedEvent,
    "aaa_event__bad_sender": MalformedPayload,
    "aaa_event__unknown": MalformedPayload,
    "v1_tweet__extended_reply": 1,
    "v1_tweet__retweet": 1,
    "v1_tweet__quote": 1,
    "v1_tweet__archive_item": 1,
    "v1_tweet__user_object": UnsupportedEvent,
    "v1_tweet__bad_time": MalformedPayload,
    "v1_archive__support_threads": 10,
}


def parse(name: str, **kwargs: Any) -> list[Message]:
    return parse_envelope(envelope(name, **kwargs))


def by_id(messages: list[Message]) -> dict[str, Message]:
    return {m.native_id: m for m in messages}


def test_every_fixture_has_its_outcome_here() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(OUTCOMES)


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_each_fixture_parses_or_fails_cleanly_with_a_reason(name: str) -> None:
    expected = OUTCOMES[name]
    if isinstance(expected, int):
        messages = parse(name)
        assert len(messages) == expected
        assert all(m.channel == "twitter" and m.account == "brand" for m in messages)
        assert all(m.raw_ref == f"fixture:{name}" for m in messages)
        # built without a second validation (Message.prevalidated): pydantic agrees with it
        assert [Message.model_validate(m.model_dump()) for m in messages] == messages
        assert [Message.model_validate(m.model_dump()).model_dump_json() for m in messages] == [
            m.model_dump_json() for m in messages
        ]
    else:
        with pytest.raises(expected) as caught:
            parse(name)
        assert str(caught.value)  # a reason people can read


def test_payloads_parse_alike_as_bytes_text_or_json() -> None:
    name = "tweet_page__mentions"
    raw = (FIXTURES / f"{name}.json").read_bytes()
    as_bytes = parse(name)
    assert parse(name, payload=raw.decode()) == as_bytes
    assert parse(name, payload=json.loads(raw)) == as_bytes


def test_a_mention_carries_full_text_entities_author_media_and_place() -> None:
    root = by_id(parse("tweet_page__mentions"))[T1]
    assert root.text == (
        "@AcmeHelp my kettle & toaster both broke after a week #fail $ACME https://t.co/kEtTlE1"
    )
    assert root.thread_key == T1 and root.reply_to is None
    assert root.direction is Direction.IN
    assert root.created_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert root.language == "en"
    assert root.url == f"https://x.com/ann_example/status/{T1}"
    author = root.author
    assert author is not None
    assert (author.native_id, author.handle, author.display_name) == (ANN_ID, "ann_example", "Ann Example")
    assert (author.verified, author.followers) == (False, 120)
    assert root.metadata["hashtags"] == ["fail"]
    assert root.metadata["mentions"] == ["AcmeHelp"]
    assert root.metadata["cashtags"] == ["ACME"]
    assert root.metadata["urls"] == ["https://shop.acme.example/kettle"]  # unwound, not t.co
    assert root.metadata["place"] == {
        "id": "01a9a39529b27f36",
        "full_name": "Leeds, England",
        "country_code": "GB",
    }
    assert root.metadata["metrics"]["like_count"] == 4
    [photo] = root.attachments
    assert (photo.content_type, photo.url) == ("image/*", "https://pbs.twimg.example/media/kettle.jpg")


def test_replies_quotes_retweets_and_long_posts() -> None:
    messages = by_id(parse("tweet_page__mentions"))
    reply, quote, retweet, long_post = messages[T2], messages[T3], messages[T4], messages[T5]
    assert (reply.reply_to, reply.thread_key) == (T1, T1)
    assert reply.metadata["in_reply_to_user_id"] == ANN_ID
    # a quote is its own message, linked to the quoted tweet
    assert (quote.thread_key, quote.reply_to, quote.metadata["quoted_id"]) == (T3, None, T1)
    assert quote.author is not None and quote.author.verified is True and quote.author.followers == 98000
    # a retweet is a share of the original: its full text, no thread hints, flagged
    assert retweet.flags == ["retweet"]
    assert retweet.metadata["retweeted_id"] == T1
    assert retweet.text == messages[T1].text and "…" not in retweet.text
    assert retweet.thread_key is None and retweet.reply_to is None
    # a long post: the note_tweet's full text, never the truncated text
    assert len(long_post.text) > 280 and long_post.text.endswith("how to get a refund.")
    assert "descaled it as advised" in long_post.text and "&amp;" not in long_post.text


def test_what_the_account_itself_wrote_is_outbound() -> None:
    document = load("tweet_page__mentions")
    document["for_user_id"] = ANN_ID  # as if this were Ann's own timeline
    messages = by_id(parse("tweet_page__mentions", payload=document))
    assert messages[T1].direction is Direction.OUT
    assert messages[T2].direction is Direction.IN


def test_a_refetch_that_finds_tweets_gone_marks_them_deleted() -> None:
    messages = by_id(parse("tweet_page__lookup_not_found"))
    assert sorted(messages) == sorted([T1, T2, T3])  # not the missing referenced tweet
    for gone in (T1, T3):
        marker = messages[gone]
        assert marker.flags == ["deleted"] and marker.text == "" and marker.author is None
        assert marker.references == [gone]  # finds its stored conversation through the KB
        assert marker.id == message_id("twitter", gone)  # replaces the stored tweet
        assert marker.metadata["deleted"] is True
    assert messages[T2].text.startswith("@ann_example")


def test_stream_lines() -> None:
    [tweet] = parse("stream_line__tweet")
    assert tweet.text == "Does anyone else find the #AcmeKettle too loud? <3 the design though"
    assert tweet.metadata["matching_rules"] == ["acme kettle"]
    assert tweet.author is not None and tweet.author.handle == "ann_example"
    [gone] = parse("stream_line__compliance_delete")
    assert (gone.native_id, gone.flags, gone.text) == (T3, ["deleted"], "")
    assert gone.metadata["deleted_at"] == "2026-11-21T08:00:00+00:00"
    with pytest.raises(UnsupportedEvent, match="keep-alive"):
        parse("stream_line__tweet", payload=b"\r\n")
    with pytest.raises(UnsupportedEvent, match="disconnected for operational reasons"):
        parse("stream_line__notice")


def test_dm_events_thread_by_conversation_and_skip_joins() -> None:
    document = load("dm_events__conversation")
    document["for_user_id"] = BRAND_ID
    messages = parse("dm_events__conversation", payload=document)
    ours, theirs = messages
    conversation = f"{BRAND_ID}-{ANN_ID}"
    for message in messages:
        assert message.native_id.startswith("dm:") and message.flags == ["dm"]
        assert message.thread_key == f"dm:{conversation}"
        assert message.metadata["dm_conversation_id"] == conversation
    assert ours.direction is Direction.OUT and theirs.direction is Direction.IN
    assert ours.text == "Thanks Ann, a replacement is on its way & the label is in your inbox."
    assert [r.handle for r in ours.recipients] == ["ann_example"]
    assert theirs.author is not None and theirs.author.display_name == "Ann Example"
    assert [a.url for a in theirs.attachments] == ["https://pbs.twimg.example/dm/receipt.jpg"]


def test_account_activity_tweets_dms_and_deletions() -> None:
    [tweet] = parse("aaa_event__tweet_create")
    assert tweet.text.endswith("Order A-1234 #stillwaiting") and "&amp;" not in tweet.text
    assert tweet.metadata["hashtags"] == ["stillwaiting"]  # the extended tweet's entities
    assert tweet.direction is Direction.IN and tweet.thread_key is None
    assert tweet.created_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    [dm] = parse("aaa_event__direct_message")
    assert dm.thread_key == f"dm:{BRAND_ID}-{BOB_ID}" and dm.flags == ["dm"]
    assert dm.text == "Hi, I tweeted earlier about the kettle & got no answer"
    assert dm.author is not None and (dm.author.handle, dm.author.followers) == ("bobsample", 7)
    assert [r.handle for r in dm.recipients] == ["AcmeHelp"]
    assert dm.direction is Direction.IN

    sent = load("aaa_event__direct_message")
    create = sent["direct_message_events"][0]["message_create"]
    create["sender_id"], create["target"]["recipient_id"] = BRAND_ID, BOB_ID
    [ours] = parse("aaa_event__direct_message", payload=sent)
    assert ours.direction is Direction.OUT and ours.thread_key == dm.thread_key  # same conversation

    [gone] = parse("aaa_event__tweet_delete")
    assert (gone.native_id, gone.flags, gone.text, gone.author) == (T2, ["deleted"], "", None)
    assert gone.metadata == {"deleted": True, "deleted_at": "2026-11-20T13:06:40+00:00", "user_id": BOB_ID}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("aaa_event__favorite", "favorite_events are not ingested"),
        ("aaa_event__follow", "follow_events are not ingested"),
        ("aaa_event__typing", "typing_events are not ingested"),
        ("aaa_event__mark_read", "mark_read_events are not ingested"),
        ("aaa_event__revoke", "user_event are not ingested"),
    ],
)
def test_harmless_account_activity_events_are_unsupported(name: str, reason: str) -> None:
    with pytest.raises(UnsupportedEvent, match=reason):
        parse(name)


def test_v1_archive_shapes() -> None:
    [reply] = parse("v1_tweet__extended_reply")
    assert reply.text == (
        "@ann_example Sorry about that, Ann! Please DM us your order number & we will sort it out <today>."
    )
    assert reply.reply_to == T1 and reply.thread_key is None
    assert reply.author is not None and reply.author.handle == "AcmeHelp" and reply.author.verified is True

    [retweet] = parse("v1_tweet__retweet")
    assert retweet.flags == ["retweet"] and retweet.metadata["retweeted_id"] == "1800000000000000500"
    assert retweet.text.endswith("#kettles #winter") and retweet.text.startswith("Our winter kettle range")
    assert retweet.metadata["hashtags"] == ["kettles", "winter"]
    assert retweet.metadata["urls"] == ["https://shop.acme.example/winter"]
    assert retweet.reply_to is None

    [quote] = parse("v1_tweet__quote")
    assert quote.metadata["quoted_id"] == "1800000000000000500" and quote.flags == []

    [item] = parse("v1_tweet__archive_item")
    assert item.native_id == "1800000000000000504" and item.author is None
    assert item.created_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "is not JSON"),
        (b"", "empty"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'"a string"', "is a JSON object"),
        (json.dumps({"data": [{"id": T1, "text": 42}]}).encode(), "has no text"),
        (json.dumps({"data": [{"id": T1, "text": "x", "created_at": "noon"}]}).encode(), "ISO 8601"),
        (json.dumps({"data": [{"id": T1, "text": "x", "author_id": "ann"}]}).encode(), "author_id 'ann'"),
        (
            json.dumps(
                {"data": [{"id": T1, "text": "x", "referenced_tweets": [{"type": "quoted"}]}]}
            ).encode(),
            "quoted",
        ),
    ],
)
def test_broken_pages_are_malformed_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        PARSERS["x.v2.tweet_page"](envelope("tweet_page__empty", payload=payload))


def test_a_page_leaves_the_collector_as_it_found_it() -> None:
    """The page parser pauses the cyclic garbage collector while it works: after a page, also a
    refused one, the collector is enabled again, and one the caller disabled stays disabled."""
    parse_page = PARSERS["x.v2.tweet_page"]
    broken = envelope("tweet_page__empty", payload=b'{"data": [{"id": "x1", "text": "x"}]}')
    was = gc.isenabled()
    try:
        gc.enable()
        assert len(parse("tweet_page__mentions")) == 5 and gc.isenabled()
        with pytest.raises(MalformedPayload):
            parse_page(broken)
        assert gc.isenabled()
        gc.disable()
        assert len(parse("tweet_page__mentions")) == 5 and not gc.isenabled()
        with pytest.raises(MalformedPayload):
            parse_page(broken)
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_timestamps_fall_back_to_the_snowflake_id() -> None:
    [tweet] = parse("tweet_page__empty", payload={"data": [{"id": T1, "text": "no created_at"}]})
    assert tweet.created_at.year == 2024  # what X's snowflake id 18000...101 encodes
    assert tweet.author is None and tweet.url == f"https://x.com/i/web/status/{T1}"


_URL = {"url": "https://t.co/a", "expanded_url": "https://acme.example/a"}


@pytest.mark.parametrize(
    "entities",
    [
        {"hashtags": [{"tag": "acme"}], "mentions": [{"username": "ann"}], "urls": [_URL]},
        {"cashtags": [{"tag": "ACME"}], "urls": [{**_URL, "unwound_url": "https://shop.example/"}]},
        {"hashtags": [{"text": "v1"}], "user_mentions": [{"screen_name": "bob"}], "symbols": [{"text": "X"}]},
        {"hashtags": [{"tag": ""}, {"tag": "b"}], "mentions": [{"username": 5}]},
        {"hashtags": [{"tag": "", "text": "fallback"}], "urls": [{"url": ""}, {"unwound": {"url": "u"}}]},
        {"hashtags": ["acme", None], "mentions": [], "user_mentions": [{"username": "ann"}]},
        {"hashtags": {"tag": "a"}, "urls": [{"expanded_url": None, "url": "https://t.co/b"}]},
        {"cashtags": [{"tag": "A"}, {}], "mentions": None},
    ],
)
def test_tweet_entities_are_what_entity_metadata_reads(entities: dict[str, Any]) -> None:
    # the tweet parser reads X's v2 shape directly and leaves anything else to entity_metadata
    tweet = {"id": T1, "text": "x", "entities": entities, "created_at": "2026-11-20T10:00:00.000Z"}
    [message] = parse("tweet_page__empty", payload={"data": [tweet]})
    assert message.metadata == entity_metadata(entities)
