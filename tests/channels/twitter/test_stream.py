"""The filtered stream (``channels.twitter.stream``) against the local X server: rules kept in
step with the configured queries, lines emitted without blocking, a dropped stream and an HTTP
error reconnected with X's backoff, replayed lines not emitted twice after a restart."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from channels import parse_envelope
from channels.twitter.settings import TwitterSettings, twitter_settings
from channels.twitter.source import XSource, sources
from channels.twitter.stream import (
    RULES_ROUTE,
    STREAM_ROUTE,
    Backoff,
    XStreamSource,
    rule_changes,
    wanted_rules,
)
from hub.models import DeadLetter, Envelope
from hub.settings import Settings
from tests.channels.twitter.conftest import ANN_ID, BRAND_ID, twitter_table, with_twitter
from tests.channels.twitter.xserver import Answer, Call, Stream, XServer, unavailable

QUICK = {
    "enabled": True,
    "stall_s": 2.0,
    "network_step_s": 0.05,
    "network_max_s": 0.2,
    "http_start_s": 0.3,
    "http_max_s": 1.0,
    "rate_limit_start_s": 0.5,
}


def line(tweet_id: str, tag: str = "parley:brand", text: str = "the acme kettle is great") -> bytes:
    document = {
        "data": {"id": tweet_id, "text": text, "author_id": ANN_ID, "conversation_id": tweet_id},
        "includes": {"users": [{"id": ANN_ID, "username": "ann_example", "name": "Ann"}]},
        "matching_rules": [{"id": "9", "tag": tag}],
    }
    return json.dumps(document).encode()


class Rules:
    """X's rule store for the app: GET lists, POST adds or deletes (bodies recorded)."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules
        self.posts: list[Any] = []
        self.lock = threading.Lock()

    def get(self, call: Call) -> Answer:
        with self.lock:
            return Answer(200, {"data": list(self.rules), "meta": {"result_count": len(self.rules)}})

    def post(self, call: Call) -> Answer:
        with self.lock:
            self.posts.append(call.body)
            if "delete" in call.body:
                self.rules = [r for r in self.rules if r["id"] not in call.body["delete"]["ids"]]
            for n, rule in enumerate(call.body.get("add", [])):
                self.rules.append({"id": f"new-{len(self.posts)}-{n}", **rule})
            return Answer(201, {"meta": {"summary": {"created": len(call.body.get("add", []))}}})


def stream_config(settings: Settings, x_server: XServer, queries: list[str]) -> TwitterSettings:
    table = twitter_table(x_server.base_url, stream=QUICK)
    table["accounts"][0]["queries"] = queries
    return twitter_settings(with_twitter(settings, table))


def collect(part: Any, until: Any, timeout: float = 8.0) -> list[Envelope | DeadLetter]:
    items: list[Envelope | DeadLetter] = []
    deadline = time.monotonic() + timeout
    while not until(items):
        assert time.monotonic() < deadline, f"gave up waiting; got {items}"
        started = time.monotonic()
        items.extend(part.next_batch())
        assert time.monotonic() - started < 0.2, "next_batch blocked"
        time.sleep(0.02)
    return items


def test_rules_follow_the_queries_and_leave_others_alone() -> None:
    config = TwitterSettings.model_validate(
        {
            "accounts": [
                {"name": "brand", "handle": "Acme", "user_id": "1", "queries": ["acme kettle", "#acme"]},
                {"name": "eu", "handle": "AcmeEU", "user_id": "2", "queries": ["#acme"]},
            ]
        }
    )
    wanted = wanted_rules(config)
    assert wanted == {"acme kettle": "parley:brand", "#acme": "parley:brand,eu"}
    existing = [
        {"id": "1", "value": "old query", "tag": "parley:brand"},  # no longer configured
        {"id": "2", "value": "#acme", "tag": "parley:brand"},  # now also eu's: replaced
        {"id": "3", "value": "acme kettle", "tag": "parley:brand"},  # as wanted
        {"id": "4", "value": "their query", "tag": "marketing-tool"},  # someone else's
    ]
    add, delete = rule_changes(existing, wanted)
    assert add == [{"value": "#acme", "tag": "parley:brand,eu"}] and delete == ["1", "2"]
    assert rule_changes([*existing[2:], {"id": "5", **add[0]}], wanted) == ([], [])


def test_backoff_follows_x_documented_schedule() -> None:
    backoff = Backoff()
    assert [backoff.wait("network") for _ in range(3)] == [0.25, 0.5, 0.75]
    assert max(backoff.wait("network") for _ in range(100)) == 16.0  # linear, capped
    assert [backoff.wait("http") for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]  # exponential
    assert [backoff.wait("rate_limit") for _ in range(2)] == [60, 120]  # longer for 429
    backoff.connected()
    assert (backoff.wait("network"), backoff.wait("http"), backoff.wait("rate_limit")) == (0.25, 5, 60)


def test_the_stream_reconnects_after_a_drop_and_an_error(settings: Settings, x_server: XServer) -> None:
    rules = Rules(
        [
            {"id": "1", "value": "old query", "tag": "parley:brand"},
            {"id": "2", "value": "someone else's", "tag": "their-tool"},
        ]
    )
    x_server.handle("GET", RULES_ROUTE, rules.get)
    x_server.handle("POST", RULES_ROUTE, rules.post)
    first, second, third = "1800000000000000801", "1800000000000000802", "1800000000000000803"
    x_server.script(
        "GET",
        STREAM_ROUTE,
        Stream([line(first), b"", line(second)], delay_s=0.05),  # then dropped mid-stream
        unavailable(),  # an HTTP error: the longer, exponential wait
        Stream([line(second), line(third), b"not json"], hold_s=0.5, drop=False),  # second replayed
    )
    config = stream_config(settings, x_server, ["acme kettle"])
    part = XStreamSource(config).build_part("twitter_stream", "stream", None)
    try:
        items = collect(part, lambda items: len(items) >= 4)
    finally:
        part.close()
    envelopes = [i for i in items if isinstance(i, Envelope)]
    ids = [e.payload["data"]["id"] for e in envelopes if isinstance(e.payload, dict)]
    assert ids == [first, second, third]  # the replayed line is not emitted twice; keep-alives dropped
    assert [e.account for e in envelopes] == ["brand"] * 4
    assert envelopes[0].payload["for_user_id"] == BRAND_ID
    [message] = parse_envelope(envelopes[0])
    assert message.native_id == first and message.metadata["matching_rules"] == ["parley:brand"]
    [bad] = [e for e in envelopes if not isinstance(e.payload, dict)]
    assert bad.payload == b"not json"  # the parser dead-letters it with the reason

    # rules: the stale one deleted, the missing one added, someone else's kept; once
    assert rules.posts == [
        {"delete": {"ids": ["1"]}},
        {"add": [{"value": "acme kettle", "tag": "parley:brand"}]},
    ]
    assert sorted(r["value"] for r in rules.rules) == ["acme kettle", "someone else's"]
    connects = x_server.calls_to("GET", STREAM_ROUTE)
    assert len(connects) == 3
    assert connects[1].at - connects[0].at >= 0.05  # a network error: the first linear step
    assert connects[2].at - connects[1].at >= 0.3  # an HTTP error: http_start_s
    assert "conversation_id" in connects[0].query["tweet.fields"] and connects[0].query["expansions"]
    assert connects[0].headers["authorization"] == "Bearer app-bearer-token"
    assert part.snapshot()["recent"] == [first, second, third]


def test_a_restart_keeps_what_was_emitted(settings: Settings, x_server: XServer) -> None:
    x_server.handle("POST", RULES_ROUTE, lambda call: Answer(201, {"meta": {}}))
    tweet = "1800000000000000811"
    x_server.script("GET", STREAM_ROUTE, Stream([line(tweet), line("1800000000000000812")], hold_s=1.0))
    config = stream_config(settings, x_server, ["acme kettle"])
    state = {"recent": [tweet], "last_line_at": time.time() - 90}
    config = config.model_copy(update={"stream": config.stream.model_copy(update={"backfill_minutes": 5})})
    part = XStreamSource(config).build_part("twitter_stream", "stream", state)
    try:
        items = collect(part, lambda items: len(items) >= 1)
        time.sleep(0.2)
        items += part.next_batch()
    finally:
        part.close()
    assert [i.payload["data"]["id"] for i in items if isinstance(i, Envelope)] == ["1800000000000000812"]
    [connect] = x_server.calls_to("GET", STREAM_ROUTE)[:1]
    assert connect.query["backfill_minutes"] == "2"  # the 90 s gap, rounded up to minutes


def test_a_refused_stream_is_a_dead_letter(settings: Settings, x_server: XServer) -> None:
    refusal = {"title": "Client Forbidden", "detail": "This app is not attached to a Project", "status": 403}
    x_server.script("GET", STREAM_ROUTE, Answer(403, refusal), Answer(403, refusal))
    x_server.handle("POST", RULES_ROUTE, lambda call: Answer(201, {"meta": {}}))
    config = stream_config(settings, x_server, ["acme kettle"])
    part = XStreamSource(config).build_part("twitter_stream", "stream", None)
    try:
        [letter] = collect(part, lambda items: len(items) >= 1)
        deadline = time.monotonic() + 3
        while len(x_server.calls_to("GET", STREAM_ROUTE)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert part.next_batch() == []  # the second refusal in a row: logged, no new dead letter
    finally:
        part.close()
    assert isinstance(letter, DeadLetter) and "403" in letter.reason and "not attached" in letter.reason
    assert len(x_server.calls_to("GET", STREAM_ROUTE)) == 2


def test_the_stream_is_a_source_only_when_enabled(settings: Settings) -> None:
    table = twitter_table()
    assert [name for name, _ in sources(with_twitter(settings, table))] == ["twitter_in"]
    table["stream"] = {"enabled": True}
    named = sources(with_twitter(settings, table))
    assert [name for name, _ in named] == ["twitter_in", "twitter_stream"]
    assert isinstance(named[0][1], XSource) and isinstance(named[1][1], XStreamSource)
    table["bearer_token"] = ""  # the stream needs the app's token: not started (logged)
    assert [name for name, _ in sources(with_twitter(settings, table))] == ["twitter_in"]
