"""Deletions found by re-fetching (``channels.twitter.recheck``): the poller looks recently
ingested tweets up again, 100 ids a request, and what X no longer finds loses its text in the
knowledge base and its export. Against the local X server, with the real ``tweepy.Client``."""

from __future__ import annotations

import json
from typing import Any

from bytewax.testing import run_main

from channels import parse_envelope
from channels.twitter.recheck import RecentTweets, not_found_errors
from channels.twitter.settings import twitter_settings
from flows.imports import FileImportSource
from flows.ingest import build_flow
from hub.models import DeadLetter, Envelope, message_id
from hub.settings import Settings
from kb import open_kb
from kb.base import SearchRequest
from tests.channels.twitter.conftest import BRAND_ID
from tests.channels.twitter.test_source import drain, partition, tweets
from tests.channels.twitter.xserver import Answer, Call, XServer, page, unavailable

MENTIONS = f"/2/users/{BRAND_ID}/mentions"
LOOKUP = "/2/tweets"
KEPT, GONE, HIDDEN = "1800000000000000901", "1800000000000000902", "1800000000000000903"


def not_found(tweet_id: str) -> dict[str, Any]:
    """X's error for a looked-up tweet that does not exist (any more), as the API sends it."""
    return {
        "value": tweet_id,
        "detail": f"Could not find tweet with ids: [{tweet_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": tweet_id,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


def not_authorized(tweet_id: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Sorry, you are not authorized to see the Tweet with ids: [{tweet_id}].",
        "title": "Authorization Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": tweet_id,
        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
    }


def lookup(call: Call) -> Answer:
    """``GET /2/tweets?ids=``: KEPT is there, GONE was deleted, HIDDEN's author went private."""
    asked = call.query["ids"].split(",")
    data = [t for t in tweets(int(KEPT)) if t["id"] in asked]
    errors = [not_found(GONE)] if GONE in asked else []
    errors += [not_authorized(HIDDEN)] if HIDDEN in asked else []
    return Answer(200, {"data": data, "errors": errors})


def test_a_round_asks_100_ids_at_a_time_and_forgets_only_the_deleted() -> None:
    recent = RecentTweets()
    ids = [str(1800000000000001000 + n) for n in range(250)]
    recent.remember(ids, 1000.0, window_s=3600, limit=10_000)
    recent.remember([ids[0]], 2000.0, window_s=3600, limit=10_000)  # first seen is kept
    assert recent.seen[ids[0]] == 1000.0
    recent.start_round(2000.0, window_s=3600, limit=10_000)
    sizes = []
    while batch := recent.batch():
        sizes.append(len(batch))
        recent.answered(batch, gone=[batch[0]])
    assert sizes == [100, 100, 50]
    assert len(recent.seen) == 247 and ids[0] not in recent.seen and ids[1] in recent.seen
    assert RecentTweets.from_state(json.loads(json.dumps(recent.to_state()))) == recent
    # the window and the limit keep the newest
    recent.remember(["1800000000000009999"], 5000.0, window_s=3600, limit=10_000)
    assert list(recent.seen) == ["1800000000000009999"]  # the rest is older than an hour
    recent.remember([str(1800000000000010000 + n) for n in range(5)], 5001.0, window_s=3600, limit=3)
    assert sorted(recent.seen) == [str(1800000000000010000 + n) for n in range(2, 5)]


def test_only_not_found_errors_for_asked_ids_are_deletions() -> None:
    response = {"errors": [not_found(GONE), not_authorized(HIDDEN), not_found("1800000000000000999")]}
    assert not_found_errors(response, [KEPT, GONE, HIDDEN]) == [not_found(GONE)]
    assert not_found_errors({"errors": "oops"}, [GONE]) == []


def test_a_deleted_tweet_found_by_the_recheck_loses_its_text(x_settings: Settings, x_server: XServer) -> None:
    # the tweets come in by polling
    texts = {KEPT: "kettle works fine", GONE: "kettle exploded, never again", HIDDEN: "kettle so-so"}
    polled = [{**t, "text": texts[t["id"]]} for t in tweets(int(KEPT), int(GONE), int(HIDDEN))]
    x_server.script("GET", MENTIONS, page(polled))
    x_server.script("GET", LOOKUP, unavailable())  # the first check fails: the batch is asked again
    x_server.handle("GET", LOOKUP, lookup)
    config = twitter_settings(x_settings).model_copy(
        update={"recheck_interval_s": 0.3, "poll_interval_s": 60.0}
    )
    config.accounts[0] = config.accounts[0].model_copy(update={"direct_messages": False})
    part = partition(config)
    items = drain(part, lambda items: any(isinstance(i, Envelope) and "errors" in i.payload for i in items))
    state = part.snapshot()
    part.close()
    envelopes = [i for i in items if isinstance(i, Envelope)]
    assert not [i for i in items if isinstance(i, DeadLetter)]  # one 503 is no dead letter
    [checks_failed, checked] = x_server.calls_to("GET", LOOKUP)[:2]
    assert checks_failed.query["ids"] == checked.query["ids"] == f"{KEPT},{GONE},{HIDDEN}"
    deletion = envelopes[-1]
    assert deletion.kind == "x.v2.tweet_page" and deletion.raw_ref == "x:brand/recheck"
    [marker] = parse_envelope(deletion)
    assert (marker.native_id, marker.flags, marker.text) == (GONE, ["deleted"], "")
    assert sorted(state["recent"]["seen"]) == [KEPT, HIDDEN]  # a private author is not a deletion
    assert state["recent"]["pending"] == []

    # the envelopes go through the flow as the poller's do: the tweets, and a recheck interval
    # later their deletion (a deletion marker has no author, so the flow keys it apart from its
    # tweet: in one run the two could be written in either order)
    for number, batch in enumerate((envelopes[:-1], envelopes[-1:])):
        lines = x_settings.data_dir / f"polled-{number}.jsonl"
        lines.write_text("".join(e.model_dump_json() + "\n" for e in batch))
        run_main(build_flow(x_settings, [("import", FileImportSource([lines]))]))
    kb = open_kb(x_settings)
    try:
        gone = kb.get_message(message_id("twitter", GONE))
        assert gone is not None and gone.text == "" and gone.flags == ["deleted"]
        assert gone.metadata == {"deleted": True}
        assert kb.search_messages(SearchRequest(query="exploded")).total == 0
        assert kb.search_messages(SearchRequest(query="kettle")).total == 2
        exported = {m.native_id: m.text for m in kb.iter_messages()}
        assert exported == {KEPT: texts[KEPT], GONE: "", HIDDEN: texts[HIDDEN]}
    finally:
        kb.close()


def test_a_batch_run_does_not_wait_for_the_next_check(x_settings: Settings, x_server: XServer) -> None:
    x_server.script("GET", MENTIONS, page(tweets(int(KEPT))))
    config = twitter_settings(x_settings)
    config.accounts[0] = config.accounts[0].model_copy(update={"direct_messages": False})
    items = drain(partition(config, once=True), lambda items: False)
    assert len(items) == 1 and not x_server.calls_to("GET", LOOKUP)
    # a recheck that is due runs in a batch run too, from the remembered state
    state = {"recent": {"seen": {KEPT: 1.0e9, GONE: 1.0e9}}, "timelines": {"recheck": {"key": "recheck"}}}
    x_server.handle("GET", LOOKUP, lookup)
    fresh = config.model_copy(update={"recheck_window_s": 1e10})
    items = drain(partition(fresh, state, once=True), lambda items: False)
    [deletion] = [i for i in items if isinstance(i, Envelope) and "errors" in i.payload]
    assert [m.native_id for m in parse_envelope(deletion)] == [GONE]
