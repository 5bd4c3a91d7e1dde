"""Bad input never fails a batch: odd characters and sizes are stored, broken set-ups are fatal
with a message saying what to fix, first use from several openers at once is safe."""

from __future__ import annotations

import threading

import pytest

from crm import CRMStore, open_crm
from crm.engine import normalise_url
from hub.errors import FatalError
from hub.models import DeadLetter
from hub.settings import Settings
from tests.crm.helpers import author, message


def test_dead_letters_with_nul_bytes_and_undecodable_text_are_kept(store: CRMStore) -> None:
    garbage = b"\x00\x01PK\x03\x04\xff\xfe binary".decode("utf-8", "surrogateescape")
    letters = [
        DeadLetter(stage="import", reason="not a JSONL file", raw=garbage, raw_ref="junk.bin"),
        DeadLetter(stage="parse", reason="truncated JSON", raw='{"text": "' + "x" * 200_000),
        DeadLetter(stage="parse", reason="bad\x00reason", raw="{}", channel="sms\udcff", kind="k\x00"),
    ]
    assert store.add_dead_letters(letters) == 3
    assert store.add_dead_letters(letters) == 0
    _, stored = store.list_dead_letters(stage="import")
    assert stored[0].raw.startswith("\\x00\x01PK") and "\\udcff" in stored[0].raw
    assert stored[0].id == letters[0].id
    _, parsed = store.list_dead_letters(stage="parse")
    assert {len(d.raw) for d in parsed} == {200_010, 2}
    assert {d.channel for d in parsed} == {None, "sms\\udcff"}


def test_authors_with_odd_characters_and_sizes_are_stored(store: CRMStore) -> None:
    weird = author(
        "rss",
        "https://example.org/" + "a" * 3000,
        handle="h" * 5000,
        name="Nul\x00Name \udc80",
        email="ann\udc80@example.org",
        phone="+44\x00123",
    )
    mapping = store.upsert_from_messages([message(weird, "m1")])
    contact = store.get_contact(mapping[weird.id])
    assert contact is not None
    assert contact.display_name == "Nul\\x00Name \\udc80"
    assert contact.handles == {"rss": ["h" * 5000]}
    reasons = {h.kind: h.reason for h in contact.raw_handles}
    assert reasons["email"].startswith("invalid email") and reasons["phone"].startswith("invalid phone")
    assert store.contact_for_identity(weird.id) == mapping[weird.id]


def test_an_unreachable_database_is_fatal_with_what_to_fix(settings: Settings) -> None:
    broken = Settings(
        data_dir=settings.data_dir,
        demo=False,
        database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
    )
    with pytest.raises(FatalError, match="cannot open the CRM database"):
        open_crm(broken)


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert normalise_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///data/crm.sqlite3") == "sqlite:///data/crm.sqlite3"


def test_first_use_from_several_openers_at_once_creates_the_schema_once(crm_settings: Settings) -> None:
    errors: list[BaseException] = []
    stores: list[CRMStore] = []
    lock = threading.Lock()

    def open_one() -> None:
        try:
            crm = open_crm(crm_settings)
            with lock:
                stores.append(crm)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        ann = author("twitter", "1", handle="ann")
        stores[0].upsert_from_messages([message(ann, "m1")])
        assert all(s.contact_for_identity(ann.id) for s in stores)
    finally:
        for crm in stores:
            crm.close()
