"""Every feed in the corpora yields its entries or a dead letter with a reason.

The feedparser test files state what they test in a header comment (``Expect: not bozo and
entries[0]...``); those statements are checked against our messages: a well-formed case has
exactly as many messages as the document has items/entries and no ``feed_warning``; a case
expected to be bozo is either dead-lettered with a reason or keeps its entries with a warning.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from channels import parse_envelope
from hub.errors import MalformedPayload
from hub.models import DeadLetter, Envelope, Message
from tests.conftest import CORPORA

_EXPECT = re.compile(rb"Expect:\s*(?P<expect>[^\n]*)")
_ENTRY_TAG = re.compile(r"<(?:\w+:)?(?:item|entry)[\s>/]")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _feed_files() -> list[Path]:
    roots = [CORPORA / "feeds", CORPORA / "forums"]
    files = [p for root in roots if root.is_dir() for p in sorted(root.rglob("*")) if p.is_file()]
    # forum JSON and NNTP articles are not feeds; every file under feeds/ is fed in, whatever it is
    return [p for p in files if "feeds" in p.relative_to(CORPORA).parts[:1] or p.suffix == ".rss"]


FILES = _feed_files()


def _id(path: Path) -> str:
    return str(path.relative_to(CORPORA))


def ingest(path: Path) -> list[Message] | DeadLetter:
    """What the ingest flow does with one file: messages, or a dead letter with the reason."""
    envelope = Envelope(channel="feeds", kind="feed", payload=path.read_bytes(), raw_ref=f"file:{path}")
    try:
        return parse_envelope(envelope)
    except MalformedPayload as exc:
        return DeadLetter(stage="parse", reason=str(exc), raw=path.read_bytes().decode("utf-8", "replace"))


def _expectation(path: Path) -> str | None:
    match = _EXPECT.search(path.read_bytes()[:4096])
    return match["expect"].decode("ascii", "replace").strip() if match else None


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_entries_or_a_dead_letter_with_a_reason(corpora: Path, path: Path) -> None:
    outcome = ingest(path)
    if isinstance(outcome, DeadLetter):
        assert len(outcome.reason) > 15, outcome.reason
        return
    for message in outcome:
        assert message.channel == "feeds" and message.native_id
        assert message.created_at.utcoffset() == timedelta(0)
        if path.parent.name in ("rss_parser_realworld", "discourse_criticalfallibilism"):
            # missing-fields.atom and incomplete-fields.atom are empty entries on purpose
            assert message.text or message.subject or path.stem.endswith("-fields"), path.name
        if message.html is not None:  # sanitised before it reaches anyone (comments are inert)
            assert "<script" not in _COMMENT.sub("", message.html).lower()


WELLFORMED = [p for p in FILES if p.parent.name == "wellformed" or p.parent.name == "encoding"]


@pytest.mark.parametrize(
    "path", [p for p in WELLFORMED if (_expectation(p) or "").startswith("not bozo")], ids=_id
)
def test_wellformed_cases_give_every_entry_without_warning(corpora: Path, path: Path) -> None:
    expect = _expectation(path) or ""
    outcome = ingest(path)
    assert not isinstance(outcome, DeadLetter), outcome.reason
    assert all("feed_warning" not in m.metadata for m in outcome)
    if "entries[0]" in expect:
        assert outcome, f"{path.name} states entries[0]: {expect}"
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:4]:
        return  # UTF-16/32: counting tags in the bytes is not meaningful; parsed above
    text = _COMMENT.sub("", raw.decode("utf-8", "replace"))
    assert len(outcome) == len(_ENTRY_TAG.findall(text))


@pytest.mark.parametrize("path", [p for p in FILES if (_expectation(p) or "").startswith("bozo")], ids=_id)
def test_bozo_cases_are_dead_letters_or_keep_entries_with_a_warning(corpora: Path, path: Path) -> None:
    outcome = ingest(path)
    if isinstance(outcome, DeadLetter):
        assert outcome.reason
        return
    assert all(m.metadata.get("feed_warning") for m in outcome)
    if "entries[0]" in (_expectation(path) or ""):
        assert outcome


def test_the_corpus_was_found_and_mostly_reads(corpora: Path) -> None:
    outcomes = {_id(p): ingest(p) for p in FILES}
    read = [k for k, v in outcomes.items() if not isinstance(v, DeadLetter)]
    assert len(outcomes) >= 100 and len(read) >= 0.9 * len(outcomes)
    letters = {k: v.reason for k, v in outcomes.items() if isinstance(v, DeadLetter)}
    assert "HTML page" in letters["feeds/rss_parser_realworld/unrecognized.rss"]


def test_json_feed_gives_the_entries_its_header_states(corpora: Path) -> None:
    path = corpora / "feeds/feedparser/jsonfeed_example.json"
    assert "len(entries) == 2" in path.read_text()
    outcome = ingest(path)
    assert isinstance(outcome, list) and len(outcome) == 2
    second, first = outcome
    assert second.native_id == "example.org:2" and second.text == "This is a second item."
    assert second.metadata["tags"] == ["test", "JSON"] and second.author is not None
    assert first.author is not None and first.author.native_id == "http://example.net/~you"
    assert first.text == "Hello, world!" and first.html is not None and "script" not in first.html


def test_discourse_topic_replies_share_the_topic_root(corpora: Path) -> None:
    topic = ingest(corpora / "forums/discourse_criticalfallibilism/t_2144.rss")
    latest = ingest(corpora / "forums/discourse_criticalfallibilism/posts.rss")
    assert isinstance(topic, list) and isinstance(latest, list)
    root = "discourse:discuss.criticalfallibilism.com/t/2144/1"
    assert {m.thread_key for m in topic} == {root}
    assert all(m.metadata["forum"] == "discourse" for m in topic)
    # the same post reached through the forum-wide feed is the same message
    in_both = {m.native_id for m in topic} & {m.native_id for m in latest}
    assert len(in_both) >= 5
    assert all(m.thread_key == root for m in latest if m.native_id in in_both)


def test_reddit_rss_and_atom_use_canonical_ids(corpora: Path) -> None:
    for name in ("reddit.rss", "reddit-atom.rss", "reddit-home.rss"):
        outcome = ingest(corpora / "feeds/rss_parser_realworld" / name)
        assert isinstance(outcome, list) and outcome
        assert all(re.fullmatch(r"reddit:t[13]_[a-z0-9]+", m.native_id) for m in outcome)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("encoding/big5.xml", None),
        ("encoding/euc-kr-item.xml", "\ub144"),
        ("encoding/demoronize-1.xml", "don\u2019t"),
    ],
)
def test_encodings(corpora: Path, name: str, text: str | None) -> None:
    outcome = ingest(corpora / "feeds/feedparser" / name)
    assert isinstance(outcome, list)
    if text is not None:
        assert outcome[0].text == text


def test_iso_8859_1_realworld_feed(corpora: Path) -> None:
    outcome = ingest(corpora / "feeds/rss_parser_realworld/encoding.rss")
    assert isinstance(outcome, list) and len(outcome) == 40
    assert any(ch in m.subject for m in outcome if m.subject for ch in "ãçéõá")
