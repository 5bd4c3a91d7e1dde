"""Every payload of the twitter corpora parses, or becomes a clean dead letter or unsupported
event with a reason; none crashes a parser.

Each file is fed as the envelope kind it would arrive as: recorded API interactions
(``tweepy_decoded``, ``v2_academictwitter``) by their request's path (``/2/.../dm_events`` →
``x.v2.dm_events``, other ``/2/`` → ``x.v2.tweet_page``, ``/1.1/`` → ``x.v1.tweet``), the v2
test data by name (``dm_events`` → DM events, else a tweet page), Account Activity payloads
(``aaa_*``, ``account_activity_webhooks``) as ``x.aaa.event``, and the stream capture
(``v2_go_twitter``) line by line as ``x.v2.stream_line``. The twitter-text suites are
conformance suites, not payloads: ``test_twitter_text`` and ``test_twitter_length`` run them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from channels import parse_envelope
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Envelope, Message
from tests.conftest import CORPORA

ROOT = CORPORA / "twitter"
SUITES = "twitter_text_conformance"
AAA = ("aaa_tweetinvi", "aaa_chatwoot", "account_activity_webhooks")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    payload: bytes | str
    status: int = 200
    data: Any = None


def _recorded(path: Path) -> Case:
    document = json.loads(path.read_text(encoding="utf-8"))
    uri, body = document["request"]["uri"], document["body"]
    kind = "x.v2.dm_events" if "/dm_events" in uri else "x.v1.tweet" if "/1.1/" in uri else "x.v2.tweet_page"
    payload = body if isinstance(body, str) else json.dumps(body)
    data = body.get("data") if isinstance(body, dict) else None
    return Case(_id(path), kind, payload, int(document.get("status", 200)), data)


def _id(path: Path, where: str = "") -> str:
    return f"{path.relative_to(ROOT)}{where}"


def cases() -> Iterator[Case]:
    if not ROOT.is_dir():
        return
    for path in sorted(p for p in ROOT.rglob("*") if p.is_file()):
        folder = path.relative_to(ROOT).parts[0]
        if folder == SUITES:
            continue
        if folder in ("tweepy_decoded", "v2_academictwitter"):
            yield _recorded(path)
        elif folder == "pytwitter_v2_testdata":
            kind = "x.v2.dm_events" if "dm_events" in path.name else "x.v2.tweet_page"
            yield Case(_id(path), kind, path.read_text(encoding="utf-8"))
        elif folder in AAA:
            yield Case(_id(path), "x.aaa.event", path.read_text(encoding="utf-8"))
        elif folder == "v2_go_twitter" and path.suffix == ".txt":
            for number, line in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
                yield Case(_id(path, f":{number}"), "x.v2.stream_line", line)
        else:
            raise AssertionError(f"{_id(path)}: no rule says which kind this file arrives as; add one")


CASES = list(cases())


def outcome(case: Case) -> list[Message] | MalformedPayload | UnsupportedEvent:
    envelope = Envelope(
        channel="twitter", kind=case.kind, account="brand", payload=case.payload, raw_ref=case.name
    )
    try:
        return parse_envelope(envelope)
    except (MalformedPayload, UnsupportedEvent) as exc:
        return exc


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_payload_parses_or_fails_cleanly(corpora: Path, case: Case) -> None:
    result = outcome(case)
    if isinstance(result, Exception):
        assert len(str(result)) > 10, f"{case.name}: a reason people can read, not {result!r}"
        assert not (200 <= case.status < 300 and case.kind != "x.v1.tweet" and _tweets(case.data)), (
            f"{case.name}: tweets refused: {result}"
        )
        return
    assert not case.status >= 400, f"{case.name}: an error response parsed as {len(result)} messages"
    assert all(m.channel == "twitter" and m.raw_ref == case.name for m in result)
    # the parsers build messages from checked values without validating again: pydantic agrees
    assert [Message.model_validate(m.model_dump()) for m in result] == result
    if case.kind == "x.v2.tweet_page" and isinstance(case.data, list):
        kept = [m for m in result if "deleted" not in m.flags]
        assert len(kept) == len(case.data), case.name  # one message per tweet, none dropped


def _tweets(data: Any) -> bool:
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    return bool(items) and all(isinstance(i, dict) and "text" in i for i in items)


def test_the_corpora_in_figures(corpora: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[str] = Counter()
    messages = 0
    for case in CASES:
        result = outcome(case)
        if isinstance(result, MalformedPayload):
            counts["dead-lettered"] += 1
        elif isinstance(result, UnsupportedEvent):
            counts["unsupported"] += 1
        else:
            counts["parsed"] += 1
            messages += len(result)
    with capsys.disabled():
        print(f"\ntwitter corpora: {len(CASES)} payloads, {dict(counts)}, {messages} messages")
    assert counts["parsed"] >= 90 and messages >= 900
    assert sum(counts.values()) == len(CASES)


def test_what_the_recorded_payloads_become(corpora: Path) -> None:
    by_name = {case.name: case for case in CASES}

    def parsed(name: str) -> list[Message]:
        result = outcome(by_name[name])
        assert isinstance(result, list), result
        return result

    six = parsed("v2_academictwitter/user_mentions__200_six_results.json")
    assert len(six) == 6 and all(m.author is not None and m.author.handle for m in six)
    assert all(m.thread_key and m.author.followers is not None for m in six if m.author)
    [hello] = parsed("account_activity_webhooks/courier_dm_webhook__helloMsg.json")
    assert (
        hello.text == "Hello World & good wishes." and hello.thread_key == "dm:272953809-835740314006511618"
    )
    [gone] = parsed("aaa_tweetinvi/tweet_delete__TweetDeletedRaised.json")
    assert gone.flags == ["deleted"] and gone.direction == "out"  # the subscribed user's own tweet
    not_found = parsed("v2_academictwitter/tweets_lookup__200_errors_only_not_found.json")
    assert len(not_found) == 15 and all(m.flags == ["deleted"] for m in not_found)
    retweets = [
        m
        for m in parsed(
            "tweepy_decoded/testgetretweets__00__GET__1_1_statuses_retweets_266367358078169089_json.json"
        )
    ]
    assert retweets and all(
        m.flags == ["retweet"] and m.metadata["retweeted_id"] == "266367358078169089" for m in retweets
    )
    invalid = outcome(by_name["account_activity_webhooks/courier_dm_webhook__invalidTwitterID.json"])
    assert isinstance(invalid, MalformedPayload) and "272953qwe809" in str(invalid)
    typing = outcome(by_name["aaa_tweetinvi/direct_message_indicate_typing__UserIsTypingDirectMessage.json"])
    assert isinstance(typing, UnsupportedEvent)
    stream = [outcome(c) for c in CASES if c.kind == "x.v2.stream_line"]
    assert sum(isinstance(s, list) for s in stream) == 3  # three tweets among keep-alives and notices
