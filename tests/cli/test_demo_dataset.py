"""The bundled demo dataset: valid envelopes that parse, with the shape ``parley run`` promises.

Threads whose parents exist, people on two channels (the CRM's merges), both directions, a
spread of languages and sentiment, the email variants (HTML alternative, attachment,
auto-reply, non-English), and byte-identical regeneration under any hash seed.
"""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import pytest

from channels import CHANNELS as CHANNELS_BY_NAME
from channels import parse_envelope
from cli.demo import DEMO_PATH, demo_envelopes
from hub.models import Envelope, Message
from tools.demo.generate import render

CHANNELS = {"email", "twitter", "facebook", "feeds", "sms"}
BRAND_EMAIL = "support@parley-coffee.example.com"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def envelopes() -> list[Envelope]:
    return list(demo_envelopes())


@pytest.fixture(scope="module")
def social(envelopes: list[Envelope]) -> list[Message]:
    """Every non-email envelope parsed by its channel's parser (``parley.message``, and the
    Twitter/X channel's for the tweets, which are X API v2 pages)."""
    messages: list[Message] = []
    for envelope in envelopes:
        if envelope.kind != "rfc822":
            parsed = parse_envelope(envelope)
            assert len(parsed) == 1, envelope.raw_ref
            messages.extend(parsed)
    return messages


@pytest.fixture(scope="module")
def mails(envelopes: list[Envelope]) -> list[EmailMessage]:
    """The rfc822 envelopes read by the stdlib parser (the channel parser is optional here)."""
    parsed = []
    for envelope in envelopes:
        if envelope.kind == "rfc822":
            assert isinstance(envelope.payload, str)
            mail = email.message_from_string(envelope.payload, policy=policy.default)
            assert isinstance(mail, EmailMessage)
            parsed.append(mail)
    return parsed


def test_every_line_is_an_envelope_of_a_known_kind() -> None:
    lines = DEMO_PATH.read_text(encoding="utf-8").splitlines()
    assert 300 <= len(lines) <= 450
    for number, line in enumerate(lines, start=1):
        envelope = Envelope.model_validate_json(line)
        assert envelope.channel in CHANNELS, number
        expected = {"email": "rfc822", "twitter": "x.v2.tweet_page"}.get(envelope.channel, "parley.message")
        assert envelope.kind == expected, number
        assert envelope.account == ("support" if envelope.channel == "email" else "demo")
        # received_at is written explicitly: a default would be "now" and differ per run.
        assert '"received_at": "2026-' in line, number


def test_demo_envelopes_reads_the_whole_file_with_line_refs(envelopes: list[Envelope]) -> None:
    assert len(envelopes) == len(DEMO_PATH.read_text(encoding="utf-8").splitlines())
    assert envelopes[0].raw_ref == "demo.jsonl:1"
    assert envelopes[-1].raw_ref == f"demo.jsonl:{len(envelopes)}"
    assert Counter(e.channel for e in envelopes).keys() == CHANNELS


def test_social_envelopes_parse_into_messages_with_authors(social: list[Message]) -> None:
    assert {m.channel for m in social} == CHANNELS - {"email"}
    assert all(m.author is not None and m.text for m in social)
    ids = [m.id for m in social]
    assert len(ids) == len(set(ids)), "native ids must be unique per channel"


def test_emails_carry_the_threading_headers(mails: list[EmailMessage]) -> None:
    assert len(mails) >= 40
    ids = [m["Message-ID"] for m in mails]
    assert len(set(ids)) == len(ids)
    for mail in mails:
        for header in ("Message-ID", "Date", "From", "To", "Subject", "MIME-Version", "Content-Type"):
            assert mail[header], f"{mail['Message-ID']} lacks {header}"
        assert mail["Date"].datetime.tzinfo is not None
        if mail["In-Reply-To"]:
            assert mail["In-Reply-To"] in ids, "the parent mail is in the dataset"
            assert mail["References"].split()[-1] == mail["In-Reply-To"]
            assert all(ref in ids for ref in mail["References"].split())


def test_email_variants_are_present(mails: list[EmailMessage]) -> None:
    alternatives = [m for m in mails if m.get_body(preferencelist=("html",)) is not None]
    assert len(alternatives) >= 2
    assert any(list(m.iter_attachments()) for m in mails)
    auto = [m for m in mails if m["Auto-Submitted"] == "auto-replied"]
    assert len(auto) == 1 and auto[0]["In-Reply-To"]
    foreign = {m["Content-Language"] for m in mails if m["Content-Language"]}
    assert {"de", "es", "fr", "ja", "pt"} <= foreign
    for mail in mails:
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None and body.get_content().strip()


def test_emails_parse_with_the_email_channel(envelopes: list[Envelope]) -> None:
    parser = CHANNELS_BY_NAME["email"].parsers.get("rfc822")
    assert parser is not None, "channels.email must declare an rfc822 parser"
    messages = [m for e in envelopes if e.kind == "rfc822" for m in parser(e)]
    assert len(messages) == sum(e.kind == "rfc822" for e in envelopes)
    native = {m.native_id for m in messages}
    assert all(m.reply_to in native for m in messages if m.reply_to)
    assert sum(bool(m.reply_to) for m in messages) >= 25
    assert any(m.attachments for m in messages)


def test_replies_point_at_parents_in_the_dataset(social: list[Message], mails: list[EmailMessage]) -> None:
    by_channel: dict[str, dict[str, Message]] = defaultdict(dict)
    for message in social:
        by_channel[message.channel][message.native_id] = message
    depth: dict[str, int] = {}

    def depth_of(message: Message) -> int:
        if message.id not in depth:
            parent = by_channel[message.channel].get(message.reply_to or "")
            depth[message.id] = 0 if parent is None else depth_of(parent) + 1
        return depth[message.id]

    for message in social:
        if message.reply_to:
            assert message.reply_to in by_channel[message.channel], message.native_id
            parent = by_channel[message.channel][message.reply_to]
            assert parent.created_at <= message.created_at, "a reply comes after its parent"
            assert message.thread_key == parent.thread_key
    deepest = {channel: max(depth_of(m) for m in msgs.values()) for channel, msgs in by_channel.items()}
    assert deepest["twitter"] >= 4 and deepest["facebook"] >= 2 and deepest["sms"] >= 2
    assert deepest["feeds"] >= 2
    email_depth = max(len(m["References"].split()) for m in mails if m["References"])
    assert email_depth >= 4
    threads = {(m.channel, m.thread_key) for m in social if m.reply_to}
    threads |= {("email", m["References"].split()[0]) for m in mails if m["References"]}
    assert len(threads) >= 60


def test_brand_replies_in_both_directions(social: list[Message], mails: list[EmailMessage]) -> None:
    directions = {(m.channel, m.direction.value) for m in social}
    for channel in CHANNELS - {"email"}:
        assert {(channel, "in"), (channel, "out")} <= directions
    senders = Counter(parseaddr(m["From"])[1] == BRAND_EMAIL for m in mails)
    assert senders[True] >= 15 and senders[False] >= 25
    # A brand reply answers a customer (a customer's message answered by the brand is "out").
    out = [m for m in social if m.direction.value == "out" and m.reply_to]
    assert len(out) >= 40


def test_people_appear_on_two_channels_by_email_or_phone(
    social: list[Message], mails: list[EmailMessage]
) -> None:
    channels_of: dict[str, set[str]] = defaultdict(set)
    for message in social:
        assert message.author is not None
        for key in (message.author.email, message.author.phone):
            if key:
                channels_of[key.lower()].add(message.channel)
    for mail in mails:
        for _, address in getaddresses([mail["From"]]):
            channels_of[address.lower()].add("email")
    shared = {key for key, seen in channels_of.items() if len(seen) >= 2}
    assert len(shared) >= 10, sorted(shared)
    assert BRAND_EMAIL not in shared and not any(key.endswith("900100") for key in shared)
    assert all(k.endswith(("example.org", "example.com")) or k.startswith("+") for k in channels_of)


def test_languages_and_listening_signals(social: list[Message], mails: list[EmailMessage]) -> None:
    import py3langid

    texts = [m.text for m in social]
    texts += [m.get_body(preferencelist=("plain",)).get_content() for m in mails]  # type: ignore[union-attr]
    detected = Counter(py3langid.classify(text)[0] for text in texts if len(text) >= 30)
    assert detected["en"] >= len(texts) // 2
    assert len({lang for lang, n in detected.items() if n >= 3}) >= 5, detected
    joined = "\n".join(texts)
    assert len(set(re.findall(r"(?<!\w)#\w+", joined))) >= 10
    assert len(set(re.findall(r"(?<!\w)@\w+", joined))) >= 15
    assert {"$PRLY", "$GRND"} <= set(re.findall(r"\$[A-Z]{2,5}\b", joined))
    assert len(re.findall(r"https://\S+", joined)) >= 10
    assert len(re.findall(r"[\U0001F300-\U0001FAFF]", joined)) >= 40
    for phrase in ("where can i buy", "how much is"):
        assert phrase in joined.lower()


def test_sentiment_is_spread(social: list[Message]) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    scores = [analyzer.polarity_scores(m.text)["compound"] for m in social if m.language in (None, "en")]
    assert sum(s <= -0.3 for s in scores) >= 15
    assert sum(s >= 0.5 for s in scores) >= 40
    assert sum(-0.05 < s < 0.05 for s in scores) >= 15


def test_times_fall_in_the_thirty_days_before_2026_11_20(
    envelopes: list[Envelope], social: list[Message], mails: list[EmailMessage]
) -> None:
    start, end = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    moments = [m.created_at for m in social] + [m["Date"].datetime for m in mails]
    assert all(start <= moment < end for moment in moments)
    assert max(moments) - min(moments) >= (end - start) * 0.9
    received = [e.received_at for e in envelopes]
    assert received == sorted(received), "the file replays oldest first"
    assert all(start <= moment < end for moment in received)


def test_regenerating_is_byte_identical_under_any_hash_seed(tmp_path: Path) -> None:
    committed = DEMO_PATH.read_bytes()
    assert render().encode("utf-8") == committed, "run `python -m tools.demo.generate` and commit"
    for seed in ("1", "4242"):
        out = tmp_path / f"demo-{seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "tools.demo.generate", "--output", str(out)],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert out.read_bytes() == committed


def test_a_different_seed_changes_ids_and_times_not_content() -> None:
    ours = [json.loads(line) for line in render().splitlines()]
    other = [json.loads(line) for line in render(seed=7).splitlines()]
    assert len(ours) == len(other)
    assert [e["received_at"] for e in ours] != [e["received_at"] for e in other]

    def texts(envelopes: list[dict[str, Any]]) -> Counter[str]:
        social = [e["payload"] for e in envelopes if e["kind"] == "parley.message"]
        tweets = [t for e in envelopes if e["kind"] == "x.v2.tweet_page" for t in e["payload"]["data"]]
        return Counter([p["text"] for p in social] + [t["text"] for t in tweets])

    assert texts(ours) == texts(other)


def test_tweets_are_x_v2_pages_that_the_twitter_channel_parses(envelopes: list[Envelope]) -> None:
    """The tweets are what the channel's poller reads: v2 pages with their authors and the
    tweets they answer in ``includes``, escaped as X escapes text; the brand's are outbound."""
    parser = CHANNELS_BY_NAME["twitter"].parsers["x.v2.tweet_page"]
    pages = [e for e in envelopes if e.channel == "twitter"]
    assert len(pages) >= 100
    seen: dict[str, Message] = {}
    escaped = 0
    for envelope in pages:
        page = envelope.payload
        assert isinstance(page, dict) and page["for_user_id"] == "1029384756"
        (tweet,) = page["data"]
        users = {u["id"]: u for u in page["includes"]["users"]}
        assert tweet["author_id"] in users
        escaped += "&amp;" in tweet["text"]
        (message,) = parser(envelope)
        assert message.native_id == tweet["id"] and message.thread_key == tweet["conversation_id"]
        assert message.author is not None and message.author.handle == users[tweet["author_id"]]["username"]
        assert "&amp;" not in message.text
        mine = message.author.handle == "ParleyCoffee"
        assert message.direction.value == ("out" if mine else "in"), tweet["id"]
        if "referenced_tweets" in tweet:
            (parent,) = page["includes"]["tweets"]
            assert message.reply_to == parent["id"] and parent["id"] in seen, "the parent came first"
            assert tweet["in_reply_to_user_id"] == parent["author_id"] in users
        seen[message.native_id] = message
    assert escaped >= 1, "a tweet with '&' shows X's HTML escaping"
    assert sum(m.direction.value == "out" for m in seen.values()) >= 20
