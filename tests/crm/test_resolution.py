"""Identity resolution: which addresses and numbers merge people, and which never do."""

from __future__ import annotations

import pytest

from channels import configure
from channels.email import EMAIL
from channels.email.settings import EmailSettings, MailboxSettings
from crm import CRMStore, open_crm
from crm.normalise import Resolver, normalise_email, normalise_phone
from hub.settings import BrandSettings, CRMSettings, Settings
from tests.crm.helpers import author, message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann@Example.ORG", "ann@example.org"),
        ("  <ann@example.org> ", "ann@example.org"),
        ("mailto:Ann@example.org", "ann@example.org"),
        ("ann@xn--mnchen-3ya.de", "ann@münchen.de"),
        ("ann@MÜNCHEN.de", "ann@münchen.de"),
        ("ann+news@example.org", "ann+news@example.org"),
    ],
)
def test_emails_are_lower_cased_and_idn_decoded(raw: str, expected: str) -> None:
    result = normalise_email(raw)
    assert result.value == expected and result.mergeable


def test_plus_tags_fold_only_when_configured() -> None:
    assert normalise_email("Ann+News@example.org", fold_plus_tags=True).value == "ann@example.org"
    assert normalise_email("+tag@example.org", fold_plus_tags=True).value == "+tag@example.org"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not an email", "no local part or domain"),
        ("ann@", "no local part or domain"),
        ("@example.org", "no local part or domain"),
        ("ann smith@example.org", "malformed local part"),
        ("ann..smith@example.org", "malformed local part"),
        ("ann@localhost", "malformed domain"),
        ("ann@exa_mple.org", "malformed domain"),
        ("ann@xn--zz.org", "undecodable IDN domain"),
    ],
)
def test_invalid_emails_keep_the_raw_text_and_a_reason(raw: str, reason: str) -> None:
    result = normalise_email(raw)
    assert result.value == raw and not result.mergeable
    assert result.note is not None and reason in result.note


def test_phones_become_e164_in_the_default_region() -> None:
    assert normalise_phone("07911 123456", default_region="GB").value == "+447911123456"
    assert normalise_phone("(202) 555-0142", default_region="US").value == "+12025550142"
    assert normalise_phone("+44 (0)7911-123456", default_region="US").value == "+447911123456"
    fictional = normalise_phone("+447700900123", default_region="GB")
    assert fictional.mergeable and fictional.value == "+447700900123"
    strict = normalise_phone("+447700900123", default_region="GB", strict=True)
    assert not strict.mergeable and strict.note == "invalid phone: not in an allocated range"


@pytest.mark.parametrize("raw", ["12", "call me", "+44 12", "++", "0791112345678901234"])
def test_invalid_phones_keep_the_raw_text_and_a_reason(raw: str) -> None:
    result = normalise_phone(raw, default_region="GB")
    assert result.value == raw and not result.mergeable
    assert result.note is not None and result.note.startswith("invalid phone")


def test_role_and_own_addresses_are_never_merge_keys() -> None:
    resolver = Resolver(CRMSettings(), own_addresses=["Hello.Parley@brand.example", "+44 7911 000111"])
    assert resolver.email("Support@Shop.example").note == "role address: never merged on"
    assert resolver.email("no-reply+bounce@shop.example").note == "role address: never merged on"
    assert resolver.email("hello.parley@BRAND.example").note == "the hub's own address: never merged on"
    assert resolver.phone("07911 000111").note == "the hub's own number: never merged on"
    assert resolver.email("supporter@shop.example").mergeable


def test_people_sharing_a_role_address_stay_apart(store: CRMStore) -> None:
    first = author("twitter", "1", name="Ann", email="support@shop.example")
    second = author("facebook", "2", name="Bob", email="SUPPORT@shop.example")
    sender = author("email", "support@shop.example", email="support@shop.example")
    mapping = store.upsert_from_messages([message(first, "a"), message(second, "b"), message(sender, "c")])
    assert len(set(mapping.values())) == 3
    contact = store.get_contact(mapping[first.id])
    assert contact is not None and contact.emails == []
    assert [(h.kind, h.value, h.reason) for h in contact.raw_handles] == [
        ("email", "support@shop.example", "role address: never merged on")
    ]


def test_the_hubs_own_addresses_and_numbers_never_merge(crm_settings: Settings) -> None:
    brand = BrandSettings(identities={"email": ["care@brand.example"], "sms": ["+447911000111"]})
    settings = crm_settings.model_copy(update={"brand": brand})
    crm = open_crm(settings)
    try:
        people = [
            author("twitter", "1", email="care@brand.example"),
            author("sms", "+447911000111", phone="+447911000111"),
            author("facebook", "3", phone="07911 000111"),
        ]
        mapping = crm.upsert_from_messages([message(p, f"m{n}") for n, p in enumerate(people)])
        assert len(set(mapping.values())) == 3
    finally:
        crm.close()


def test_the_hubs_mailboxes_are_its_own_addresses(crm_settings: Settings) -> None:
    mailbox = MailboxSettings(
        name="care", username="inbox-7@brand.example", from_address="Care.Team@brand.example"
    )
    # the composition root adds every channel's own accounts to the brand's identities
    settings = configure(EMAIL.with_settings(crm_settings, EmailSettings(accounts=[mailbox])))
    crm = open_crm(settings)
    try:
        people = [
            author("twitter", "1", email="care.team@brand.example"),
            author("facebook", "2", email="care.team@brand.example"),
        ]
        people += [
            author("twitter", "3", email="inbox-7@brand.example"),
            author("sms", "+447911000999", email="INBOX-7@brand.example"),
        ]
        mapping = crm.upsert_from_messages([message(p, f"m{n}") for n, p in enumerate(people)])
        assert len(set(mapping.values())) == 4
        contact = crm.get_contact(mapping[people[0].id])
        assert (
            contact is not None and contact.raw_handles[0].reason == "the hub's own address: never merged on"
        )
    finally:
        crm.close()


def test_invalid_emails_and_phones_are_kept_but_never_merged_on(store: CRMStore) -> None:
    first = author("twitter", "1", name="Ann", email="ann at example", phone="12345")
    second = author("facebook", "2", name="Bob", email="ann at example", phone="12345")
    mapping = store.upsert_from_messages([message(first, "a"), message(second, "b")])
    assert mapping[first.id] != mapping[second.id]
    contact = store.get_contact(mapping[first.id])
    assert contact is not None and contact.emails == [] and contact.phones == []
    reasons = {h.kind: h.reason for h in contact.raw_handles}
    assert reasons["email"].startswith("invalid email")
    assert reasons["phone"].startswith("invalid phone")
    assert {i.kind for i in contact.identities} == {"account"}


def test_plus_tags_keep_people_apart_unless_folding_is_configured(crm_settings: Settings) -> None:
    base = author("email", "ann@example.org", email="ann@example.org")
    tagged = author("twitter", "9", email="ann+shop@example.org")
    crm = open_crm(crm_settings)
    try:
        mapping = crm.upsert_from_messages([message(base, "1"), message(tagged, "2")])
        assert mapping[base.id] != mapping[tagged.id]
    finally:
        crm.close()
    folding = crm_settings.model_copy(
        update={"crm": CRMSettings(fold_plus_tags=True), "data_dir": crm_settings.data_dir / "fold"}
    )
    crm = open_crm(folding)
    try:
        other = author("twitter", "10", email="ann+news@example.org")
        mapping = crm.upsert_from_messages([message(base, "3"), message(other, "4")])
        assert mapping[base.id] == mapping[other.id]
    finally:
        crm.close()


def test_idn_addresses_in_either_spelling_are_one_person(store: CRMStore) -> None:
    punycode = author("twitter", "5", email="Jorg@xn--mnchen-3ya.de")
    unicode_ = author("email", "jorg@münchen.de", email="jorg@münchen.de")
    mapping = store.upsert_from_messages([message(punycode, "1"), message(unicode_, "2")])
    assert mapping[punycode.id] == mapping[unicode_.id]
    contact = store.get_contact(mapping[punycode.id])
    assert contact is not None and contact.emails == ["jorg@münchen.de"]


def test_a_bridge_author_merges_two_contacts_and_the_oldest_survives(store: CRMStore) -> None:
    by_email = author("email", "dee@example.org", email="dee@example.org", name="Dee")
    by_phone = author("sms", "+447911222333", phone="+447911222333")
    first = store.upsert_from_messages([message(by_email, "e1")])
    second = store.upsert_from_messages([message(by_phone, "s1", minutes=5)])
    assert first[by_email.id] != second[by_phone.id]
    bridge = author("twitter", "dee_t", handle="dee", email="DEE@example.org", phone="07911 222333")
    third = store.upsert_from_messages([message(bridge, "t1", minutes=9)])
    survivor = first[by_email.id]
    assert third[bridge.id] == survivor
    assert store.contact_for_identity(by_phone.id) == survivor
    absorbed = store.get_contact(second[by_phone.id])
    assert absorbed is not None and absorbed.merged_into == survivor and absorbed.identities == []
    contact = store.get_contact(survivor)
    assert contact is not None
    assert contact.message_counts == {"email": 1, "sms": 1, "twitter": 1}
    assert contact.emails == ["dee@example.org"] and contact.phones == ["+447911222333"]
    [event] = store.history(survivor)
    assert (event.action, event.mode, event.absorbed_id) == ("merge", "auto", second[by_phone.id])
    assert event.reason == "shared phone +447911222333"
    assert store.count_contacts() == 1


def test_a_later_message_updates_the_identity_without_erasing_it(store: CRMStore) -> None:
    first = author("twitter", "77", handle="old_handle", name="Eve", email="eve@example.org")
    renamed = author("twitter", "77", handle="new_handle")
    store.upsert_from_messages([message(first, "1")])
    mapping = store.upsert_from_messages([message(renamed, "2", minutes=3)])
    contact = store.get_contact(mapping[first.id])
    assert contact is not None
    assert contact.handles == {"twitter": ["new_handle"]}
    assert contact.display_name == "Eve"
    assert contact.emails == ["eve@example.org"]
    assert contact.message_count == 2
