"""The CRM store's first contract: authors become contacts, replays count nothing twice,
contacts can be read and searched, dead letters are kept once each."""

from __future__ import annotations

import threading
from pathlib import Path

from crm import CRMStore, open_crm
from hub.models import DeadLetter, Direction, Message
from hub.settings import Settings
from tests.crm.helpers import T0, author, message


def test_schema_is_created_on_first_use_and_reopening_keeps_data(settings: Settings) -> None:
    crm = open_crm(settings)
    ann = author("twitter", "42", handle="ann", name="Ann")
    mapping = crm.upsert_from_messages([message(ann, "1")])
    crm.close()
    assert Path(settings.data_dir / "crm.sqlite3").is_file()
    reopened = open_crm(settings)
    try:
        assert reopened.contact_for_identity(ann.id) == mapping[ann.id]
    finally:
        reopened.close()


def test_an_author_becomes_one_contact_with_its_identity(store: CRMStore) -> None:
    ann = author("twitter", "42", handle="ann", name="Ann Example")
    msgs = [
        message(ann, "1", minutes=0, sentiment=-0.5, language="en"),
        message(ann, "2", minutes=10, sentiment=0.25, language="en"),
        message(ann, "3", minutes=20, language="fr"),
        message(ann, "4", minutes=30),  # language "und": not a language seen
    ]
    mapping = store.upsert_from_messages(msgs)
    assert list(mapping) == [ann.id]
    contact = store.get_contact(mapping[ann.id])
    assert contact is not None
    assert contact.display_name == "Ann Example"
    assert [i.id for i in contact.identities] == [ann.id]
    assert contact.handles == {"twitter": ["ann"]}
    assert contact.message_counts == {"twitter": 4}
    assert contact.message_count == 4
    assert contact.first_seen == T0
    assert contact.last_seen == msgs[-1].created_at
    assert contact.sentiment_avg == -0.125  # the un-enriched message does not count
    assert contact.languages == ["en", "fr"]
    assert contact.merged_into is None


def test_replaying_the_same_messages_counts_nothing_twice(store: CRMStore) -> None:
    ann = author("sms", "+447700900123", phone="+447700900123")
    msgs = [message(ann, str(n), minutes=n, sentiment=0.5) for n in range(5)]
    first = store.upsert_from_messages(msgs)
    again = store.upsert_from_messages(msgs)
    partly_new = store.upsert_from_messages([*msgs[:2], message(ann, "5", minutes=5, sentiment=-1.0)])
    assert first == again == partly_new
    contact = store.get_contact(first[ann.id])
    assert contact is not None
    assert contact.message_count == 6
    assert contact.sentiment_avg == round((5 * 0.5 - 1.0) / 6, 4)


def test_the_same_message_twice_in_one_batch_counts_once(store: CRMStore) -> None:
    bob = author("facebook", "b1", name="Bob")
    msg = message(bob, "m1")
    mapping = store.upsert_from_messages([msg, msg.model_copy()])
    contact = store.get_contact(mapping[bob.id])
    assert contact is not None and contact.message_count == 1


def test_one_person_on_three_channels_is_one_contact(store: CRMStore) -> None:
    on_twitter = author(
        "twitter", "42", handle="ann", name="Ann", email="Ann@Example.ORG", phone="+44 7911 123456"
    )
    on_email = author("email", "ann@example.org", email="ann@example.org", name="Ann E.")
    on_sms = author("sms", "+447911123456", phone="07911 123456")
    mapping = store.upsert_from_messages(
        [message(on_twitter, "t1"), message(on_email, "e1", minutes=5), message(on_sms, "s1", minutes=9)]
    )
    assert len(set(mapping.values())) == 1
    contact = store.get_contact(mapping[on_twitter.id])
    assert contact is not None
    assert contact.emails == ["ann@example.org"]
    assert contact.phones == ["+447911123456"]
    assert contact.message_counts == {"email": 1, "sms": 1, "twitter": 1}
    assert {on_twitter.id, on_email.id, on_sms.id} <= {i.id for i in contact.identities}


def test_separate_batches_join_the_existing_contact(store: CRMStore) -> None:
    on_twitter = author("twitter", "7", handle="cy", email="cy@example.com")
    first = store.upsert_from_messages([message(on_twitter, "t1")])
    on_email = author("email", "cy@example.com", email="cy@example.com")
    second = store.upsert_from_messages([message(on_email, "e1")])
    assert second[on_email.id] == first[on_twitter.id]
    assert store.contact_for_identity(on_email.id) == first[on_twitter.id]


def test_outbound_messages_and_authorless_messages_create_no_contact(store: CRMStore) -> None:
    brand = author("twitter", "brand", handle="parley")
    outbound = message(brand, "o1", direction=Direction.OUT)
    authorless = Message(channel="rss", native_id="item-1", text="news")
    assert store.upsert_from_messages([outbound, authorless]) == {}
    assert store.contact_for_identity(brand.id) is None
    assert store.count_contacts() == 0


def test_unknown_ids_read_as_none(store: CRMStore) -> None:
    assert store.get_contact("con_missing") is None
    assert store.contact_for_identity("idn_missing") is None


def test_search_by_name_handle_email_and_phone_with_paging(store: CRMStore) -> None:
    people = [
        author("twitter", "1", handle="annie", name="Ann Smith", email="ann.smith@example.org"),
        author("twitter", "2", handle="bobby", name="Bob Jones", phone="+44 7911 654321"),
        author("facebook", "3", name="Annette Brown"),
    ]
    store.upsert_from_messages([message(p, f"m{n}", minutes=n) for n, p in enumerate(people)])
    total, page = store.search_contacts(None, limit=2, offset=0)
    assert total == 3 and [c.display_name for c in page] == ["Annette Brown", "Bob Jones"]
    total, rest = store.search_contacts("", limit=2, offset=2)
    assert total == 3 and [c.display_name for c in rest] == ["Ann Smith"]
    assert {c.display_name for c in store.search_contacts("ann", 10, 0)[1]} == {"Ann Smith", "Annette Brown"}
    assert [c.display_name for c in store.search_contacts("@annie", 10, 0)[1]] == ["Ann Smith"]
    assert [c.display_name for c in store.search_contacts("ANN.SMITH@EXAMPLE.ORG", 10, 0)[1]] == ["Ann Smith"]
    assert [c.display_name for c in store.search_contacts("07911 654321", 10, 0)[1]] == ["Bob Jones"]
    assert store.search_contacts("nobody-like-this", 10, 0) == (0, [])
    assert store.search_contacts("100%_", 10, 0) == (0, [])


def test_dead_letters_are_kept_once_and_paged_newest_first(store: CRMStore) -> None:
    letters = [
        DeadLetter(stage="parse", reason="truncated JSON", raw='{"a": ', raw_ref="f.jsonl:1"),
        DeadLetter(stage="parse", reason="unknown field x", raw='{"x": 1}', raw_ref="f.jsonl:2"),
        DeadLetter(stage="kb", reason="refused", raw="{}", created_at=T0),
    ]
    assert store.add_dead_letters(letters) == 3
    assert (
        store.add_dead_letters(
            [
                letters[0],
                DeadLetter(stage="parse", reason="truncated JSON", raw='{"a": ', raw_ref="f.jsonl:1"),
            ]
        )
        == 0
    )
    assert store.add_dead_letters([]) == 0
    assert store.count_dead_letters() == 3
    total, page = store.list_dead_letters(limit=2)
    assert total == 3 and len(page) == 2
    assert page[0].created_at >= page[1].created_at
    assert store.list_dead_letters(limit=10, offset=2)[1][0].id == letters[2].id
    total, parse_only = store.list_dead_letters(stage="parse")
    assert total == 2 and {d.reason for d in parse_only} == {"truncated JSON", "unknown field x"}
    assert parse_only[0].raw in {'{"a": ', '{"x": 1}'}


def test_the_store_is_safe_to_share_between_threads(store: CRMStore) -> None:
    errors: list[BaseException] = []

    def ingest(worker: int) -> None:
        try:
            for batch in range(3):
                people = [
                    author("twitter", f"{n}", handle=f"user{n}", email=f"user{n}@example.org")
                    for n in range(6)
                ]
                store.upsert_from_messages([message(p, f"w{worker}-b{batch}-{p.native_id}") for p in people])
                store.search_contacts("user", 5, 0)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total, contacts = store.search_contacts("user", 20, 0)
    assert total == 6
    assert all(c.message_count == 9 for c in contacts)
