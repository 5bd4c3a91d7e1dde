"""The X poller against the local X server: recorded pages, pagination, 429s, 503s, resumes.

The real ``tweepy.Client`` talks to the server; the recorded pages come from the corpora
(``v2_academictwitter``, ``pytwitter_v2_testdata``, ``tweepy_decoded``) when they are there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from channels.twitter.settings import TwitterSettings, twitter_settings
from channels.twitter.source import XPartition, XSource, sources
from flows.ingest import build_flow
from hub.models import DeadLetter, Envelope, message_id
from hub.settings import Settings
from kb import open_kb
from tests.channels.twitter.conftest import BRAND_ID, twitter_table, with_twitter
from tests.channels.twitter.xserver import Answer, XServer, page, rate_limited, unavailable

MENTIONS = f"/2/users/{BRAND_ID}/mentions"
SEARCH = "/2/tweets/search/recent"
DM_EVENTS = "/2/dm_events"


def recorded(corpora: Path, path: str) -> dict[str, Any]:
    """The body of a recorded X response (a bare body, or ``{"request", "status", "body"}``)."""
    file = corpora / "twitter" / path
    if not file.is_file():
        pytest.skip(f"{file} not found")
    document = json.loads(file.read_text(encoding="utf-8"))
    return document["body"] if "body" in document and "request" in document else document


def tweets(*ids: int, author: str = "4000000002") -> list[dict[str, Any]]:
    return [
        {"id": str(i), "text": f"tweet {i} @AcmeHelp", "author_id": author, "conversation_id": str(i)}
        for i in ids
    ]


def partition(config: TwitterSettings, state: dict[str, Any] | None = None, **kwargs: Any) -> XPartition:
    return XSource(config, **kwargs).build_part("twitter_in", "brand", state)


def drain(
    part: XPartition, until: Callable[[list[Envelope | DeadLetter]], bool], timeout: float = 6.0
) -> list[Envelope | DeadLetter]:
    """Call ``next_batch`` as Bytewax would (honouring ``next_awake``) until ``until(items)``."""
    items: list[Envelope | DeadLetter] = []
    deadline = time.monotonic() + timeout
    while not until(items):
        assert time.monotonic() < deadline, f"gave up waiting; got {items}"
        try:
            items.extend(part.next_batch())
        except StopIteration:
            break
        awake = part.next_awake()
        if awake is not None:
            time.sleep(min(max((awake.timestamp() - time.time()), 0.0), 0.05))
    return items


def config_of(settings: Settings) -> TwitterSettings:
    return twitter_settings(settings)


def test_recorded_pages_flow_in_despite_a_429_and_a_503(
    corpora: Path, x_server: XServer, settings: Settings
) -> None:
    mentions = recorded(corpora, "v2_academictwitter/user_mentions__200_six_results.json")
    first, second = dict(mentions, data=mentions["data"][:3]), dict(mentions, data=mentions["data"][3:])
    first["meta"] = {**mentions["meta"], "next_token": "page-2"}
    second["meta"] = {k: v for k, v in mentions["meta"].items() if k != "next_token"}
    x_server.script("GET", MENTIONS, Answer(200, first), rate_limited(1.0), Answer(200, second))
    search = recorded(corpora, "pytwitter_v2_testdata/apis_searches_search_tweets_query.json")
    x_server.script("GET", SEARCH, Answer(200, search))
    dms = recorded(
        corpora,
        "tweepy_decoded/test_manage_and_lookup_direct_messages__04__GET__2_dm_conversations_"
        "750362064426721281_1072250532645998596_dm_events.json",
    )
    x_server.script("GET", DM_EVENTS, unavailable(), Answer(200, dms))
    settings.ensure_data_dir()
    table = twitter_table(x_server.base_url)
    table["accounts"][0]["queries"] = ["#commtwitter -is:retweet"]
    hub = with_twitter(settings, table)

    run_main(build_flow(hub, [("twitter_in", XSource(config_of(hub), once=True))]))

    kb = open_kb(hub)
    try:
        for tweet in mentions["data"] + search["data"]:
            assert kb.get_message(message_id("twitter", tweet["id"])) is not None, tweet["id"]
        for event in dms["data"]:
            assert kb.get_message(message_id("twitter", f"dm:{event['id']}")) is not None
        assert kb.count_messages() == len(mentions["data"]) + len(search["data"]) + len(dms["data"])
    finally:
        kb.close()
    calls = x_server.calls_to("GET", MENTIONS)
    assert [c.query.get("pagination_token") for c in calls] == [None, "page-2", "page-2"]  # no page lost
    assert calls[2].at - calls[1].at >= 0.9  # waited for x-rate-limit-reset
    assert "since_id" not in calls[0].query
    assert "author_id" in calls[0].query["expansions"] and "conversation_id" in calls[0].query["tweet.fields"]
    assert calls[0].headers["authorization"] == "Bearer app-bearer-token"
    [searched] = x_server.calls_to("GET", SEARCH)
    assert searched.query["query"] == "#commtwitter -is:retweet"
    dm_calls = x_server.calls_to("GET", DM_EVENTS)
    assert len(dm_calls) == 3  # 503, the page, the page its next_token names
    assert dm_calls[1].headers["authorization"].startswith("OAuth ")  # DMs need user context
    assert dm_calls[2].query["pagination_token"] == dms["meta"]["next_token"]


def test_a_round_resumes_at_the_page_that_was_next(x_settings: Settings, x_server: XServer) -> None:
    config = config_of(x_settings).model_copy(update={"poll_interval_s": 0.1})
    config.accounts[0] = config.accounts[0].model_copy(update={"direct_messages": False})
    x_server.script("GET", MENTIONS, page(tweets(1800000000000000903, 1800000000000000902), next_token="p2"))
    first = partition(config)
    [envelope] = drain(first, lambda items: len(items) == 1)
    state = first.snapshot()  # taken while page 2 is being asked for: the crash comes now
    first.close()
    assert state["timelines"]["mentions"]["next_token"] == "p2"
    assert state["timelines"]["mentions"]["since_id"] is None  # moves only when the round ends
    time.sleep(0.2)  # the dead partition's request for page 2 ends (unanswered: nothing scripted)

    before = len(x_server.calls_to("GET", MENTIONS))
    x_server.script("GET", MENTIONS, page(tweets(1800000000000000901)), page(tweets(1800000000000000904)))
    resumed = partition(config, state)
    items = drain(resumed, lambda items: len(items) == 2)
    resumed.close()
    calls = x_server.calls_to("GET", MENTIONS)[before:]
    assert calls[0].query.get("pagination_token") == "p2" and "since_id" not in calls[0].query
    assert calls[1].query["since_id"] == "1800000000000000903" and "pagination_token" not in calls[1].query
    assert [json.dumps(i.payload["data"][0]["id"]) for i in items if isinstance(i, Envelope)] == [
        '"1800000000000000901"',
        '"1800000000000000904"',
    ]
    assert resumed.snapshot()["timelines"]["mentions"]["since_id"] == "1800000000000000904"
    assert envelope.payload["for_user_id"] == BRAND_ID  # type: ignore[union-attr]


def test_an_exhausted_window_waits_for_its_reset(x_settings: Settings, x_server: XServer) -> None:
    config = config_of(x_settings)
    config.accounts[0] = config.accounts[0].model_copy(update={"direct_messages": False})
    reset = str(int(time.time()) + 1)
    exhausted = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
    first = page(tweets(1800000000000000902), next_token="p2")
    x_server.script("GET", MENTIONS, Answer(200, first.body, exhausted), page(tweets(1800000000000000901)))
    part = partition(config, once=True)
    items = drain(part, lambda items: False)
    part.close()
    assert len(items) == 2
    calls = x_server.calls_to("GET", MENTIONS)
    assert calls[1].at >= int(reset) - 0.05  # the second page waited for the window to reset


def test_next_batch_never_waits_for_x(x_settings: Settings, x_server: XServer) -> None:
    x_server.script("GET", MENTIONS, Answer(200, page(tweets(1800000000000000901)).body, delay_s=1.0))
    part = partition(config_of(x_settings))
    started = time.monotonic()
    for _ in range(5):
        assert part.next_batch() == []
    assert time.monotonic() - started < 0.3
    assert len(drain(part, lambda items: len(items) == 1)) == 1
    part.close()


def test_dm_pages_stop_at_known_events(x_settings: Settings, x_server: XServer) -> None:
    config = config_of(x_settings)
    config.accounts[0] = config.accounts[0].model_copy(update={"mentions": False})
    known = "1800000000000000302"
    events = [
        {
            "id": "1800000000000000305",
            "event_type": "MessageCreate",
            "text": "new",
            "sender_id": "4000000002",
        },
        {"id": known, "event_type": "MessageCreate", "text": "seen", "sender_id": "4000000002"},
    ]
    x_server.script("GET", DM_EVENTS, page(events, next_token="older"))
    state = {"timelines": {"dms": {"key": "dms", "since_id": known}}}
    part = partition(config, state, once=True)
    [envelope] = drain(part, lambda items: False)
    part.close()
    assert isinstance(envelope, Envelope) and envelope.kind == "x.v2.dm_events"
    assert [e["id"] for e in envelope.payload["data"]] == ["1800000000000000305"]
    assert len(x_server.calls_to("GET", DM_EVENTS)) == 1  # no older page asked for
    assert part.snapshot()["timelines"]["dms"]["since_id"] == "1800000000000000305"


def test_refused_requests_are_dead_letters_and_the_rest_goes_on(
    x_settings: Settings, x_server: XServer
) -> None:
    x_server.script(
        "GET", MENTIONS, Answer(401, {"title": "Unauthorized", "detail": "Unauthorized", "status": 401})
    )
    x_server.script(
        "GET", DM_EVENTS, page([{"id": "1800000000000000305", "text": "hi", "sender_id": "4000000002"}])
    )
    part = partition(config_of(x_settings), once=True)
    items = drain(part, lambda items: False)
    part.close()
    letters = [i for i in items if isinstance(i, DeadLetter)]
    [letter] = letters
    assert letter.stage == "source" and "refused the credentials" in letter.reason
    assert letter.raw_ref == "x:brand/mentions"
    assert [i.kind for i in items if isinstance(i, Envelope)] == ["x.v2.dm_events"]


def test_passing_failures_dead_letter_after_a_streak(x_settings: Settings, x_server: XServer) -> None:
    config = config_of(x_settings)
    config.accounts[0] = config.accounts[0].model_copy(update={"direct_messages": False})
    x_server.script("GET", MENTIONS, unavailable(), unavailable(), unavailable())
    part = partition(config, once=True)
    [letter] = drain(part, lambda items: False)
    part.close()
    assert isinstance(letter, DeadLetter) and "failed 3 times in a row" in letter.reason
    assert len(x_server.calls_to("GET", MENTIONS)) == 3


def test_timelines_follow_the_credentials(settings: Settings) -> None:
    assert sources(settings) == []
    hub = with_twitter(settings, twitter_table())
    [(step, source)] = sources(hub)
    assert step == "twitter_in" and isinstance(source, XSource) and source.list_parts() == ["brand"]
    reads_only = config_of(with_twitter(settings, twitter_table(consumer_key="", access_token="")))
    assert sorted(partition(reads_only).snapshot()["timelines"]) == ["mentions", "recheck"]  # no DMs
    nothing = config_of(with_twitter(settings, twitter_table(bearer_token="", consumer_key="")))
    with pytest.raises(StopIteration):
        partition(nothing).next_batch()
