"""The ingest dataflow end to end, in-process: threading, dedupe on replay, dead letters."""

from __future__ import annotations

import json
from pathlib import Path

from crm import open_crm
from hub.models import conversation_id_for, identity_id, message_id
from hub.settings import Settings
from kb import open_kb
from tests.flows.conftest import ingest

TWITTER_THREAD = conversation_id_for("twitter", "demo", "100")
SMS_THREAD = conversation_id_for("sms", "demo", "SM1")


def test_envelopes_are_threaded_enriched_and_stored(settings: Settings, threads_file: Path) -> None:
    report = ingest(settings, [threads_file])

    assert report.read == 15
    assert report.created == 9 and report.duplicates == 1
    assert report.dead_letters == 5
    kb = open_kb(settings)
    try:
        assert kb.count_messages() == 9
        assert kb.count_conversations() == 4
        thread = kb.get_conversation(TWITTER_THREAD)
        assert thread is not None
        assert thread.message_count == 4 and thread.inbound_count == 3
        assert [m.native_id for m in kb.conversation_messages(TWITTER_THREAD)] == ["100", "101", "102", "103"]
        # SM3 arrived before its parent SM2: the threader moved it into SM1's conversation
        sms = kb.get_conversation(SMS_THREAD)
        assert sms is not None and sms.message_count == 3
        assert kb.get_conversation(conversation_id_for("sms", "demo", "SM2")) is None
        stored = kb.get_message(message_id("twitter", "100"))
        assert stored is not None and stored.enrichment.done
        assert "fail" in [h.lower() for h in stored.enrichment.hashtags]
        assert stored.enrichment.sentiment_label == "negative"
        spanish = kb.get_message(message_id("facebook", "fb_1"))
        assert spanish is not None and spanish.language == "es"
    finally:
        kb.close()


def test_replaying_the_same_file_writes_nothing_twice(settings: Settings, threads_file: Path) -> None:
    ingest(settings, [threads_file])
    kb = open_kb(settings)
    before = {c.id: c for c in kb.iter_conversations()}
    kb.close()

    replay = ingest(settings, [threads_file])

    assert replay.created == 0 and replay.updated == 0
    assert replay.duplicates == 10
    kb, crm = open_kb(settings), open_crm(settings)
    try:
        assert kb.count_messages() == 9
        assert {c.id: c for c in kb.iter_conversations()} == before
        assert crm.list_dead_letters(limit=100)[0] == 5
    finally:
        kb.close()
        crm.close()


def test_dead_letters_keep_the_raw_payload_and_the_reason(settings: Settings, threads_file: Path) -> None:
    ingest(settings, [threads_file])
    crm = open_crm(settings)
    try:
        _, letters = crm.list_dead_letters(limit=100)
    finally:
        crm.close()
    by_line = {letter.raw_ref.rsplit(":", 1)[1]: letter for letter in letters if letter.raw_ref}
    assert set(by_line) == {"11", "12", "13", "14", "15"}
    assert "not JSON" in by_line["11"].reason and by_line["11"].stage == "import"
    assert "favourite_colour" in by_line["12"].reason and by_line["12"].stage == "parse"
    assert "favourite_colour" in by_line["12"].raw
    assert "text" in by_line["13"].reason
    assert "myspace" in by_line["14"].reason
    assert all(letter.raw for letter in letters)


def test_authors_become_contacts(settings: Settings, threads_file: Path) -> None:
    ingest(settings, [threads_file])
    crm = open_crm(settings)
    try:
        ann_twitter = crm.contact_for_identity(identity_id("twitter", "42"))
        ann_facebook = crm.contact_for_identity(identity_id("facebook", "9001"))
        assert ann_twitter is not None and ann_facebook is not None
        # the same email address on two channels is one person
        assert ann_twitter == ann_facebook
        contact = crm.get_contact(ann_twitter)
        assert contact is not None
    finally:
        crm.close()


def test_garbage_files_dead_letter_and_the_rest_still_flows(
    settings: Settings, tmp_path: Path, threads_file: Path
) -> None:
    (tmp_path / "binary.jsonl").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "truncated.jsonl").write_text('{"channel": "twitter", "kind": "parley.mess')
    (tmp_path / "empty.eml").write_bytes(b"")
    report = ingest(
        settings,
        [tmp_path / "binary.jsonl", tmp_path / "truncated.jsonl", tmp_path / "empty.eml", threads_file],
    )
    assert report.created == 9
    assert report.dead_letters == 5 + 3


def test_poison_inputs_become_dead_letters_and_the_run_goes_on(settings: Settings, tmp_path: Path) -> None:
    def line(native_id: str, metadata: object) -> str:
        payload = {"native_id": native_id, "text": f"message {native_id}", "metadata": metadata}
        return json.dumps({"channel": "feeds", "kind": "parley.message", "payload": payload}) + "\n"

    poison = tmp_path / "poison.jsonl"
    poison.write_text(
        line("bad-query", {"listen_query": "(refund"})
        + line("refs-int", {"references": 5})
        + line("subject-list", {"normalized_subject": ["x"]})
        + "[" * 200_000
        + "\n"
        + line("kept", {"listen_query": "message"})
        + line("filtered", {"listen_query": "kettle"})
    )
    report = ingest(settings, [poison])

    assert report.dead_letters == 2  # the invalid listening query, the nesting bomb
    assert report.filtered == 1
    assert report.created == 3  # refs-int, subject-list, kept
    crm = open_crm(settings)
    try:
        _, letters = crm.list_dead_letters(limit=10)
    finally:
        crm.close()
    reasons = " | ".join(letter.reason for letter in letters)
    assert "listening query" in reasons and "nested too deeply" in reasons
