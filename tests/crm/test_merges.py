"""Merges that can be trusted and undone: manual merge, exact unmerge, split, audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from crm import Conflict, CRMStore, InvalidRequest, NotFound
from tests.crm.helpers import author, message


def _snapshot(store: CRMStore, contact_id: str) -> dict[str, Any]:
    contact = store.get_contact(contact_id)
    assert contact is not None
    return contact.model_dump(exclude={"updated_at"})


def _two_people(store: CRMStore) -> tuple[str, str]:
    ann = author("twitter", "ann1", handle="ann", name="Ann", email="ann@example.org")
    bob = author("sms", "+447911333444", phone="+447911333444", name="Bob")
    mapping = store.upsert_from_messages(
        [message(ann, "a1", sentiment=0.5, language="en"), message(bob, "b1", minutes=3, sentiment=-1.0)]
    )
    ann_id, bob_id = mapping[ann.id], mapping[bob.id]
    store.update_contact(ann_id, tags=["vip"], attributes={"plan": "gold", "tier": 1})
    store.update_contact(
        bob_id,
        display_name="Robert",
        tags=["churn-risk", "vip"],
        attributes={"plan": "free", "city": "Leeds"},
    )
    return ann_id, bob_id


def test_a_manual_merge_moves_identities_and_combines_the_profile(store: CRMStore) -> None:
    ann_id, bob_id = _two_people(store)
    event = store.merge(ann_id, bob_id, actor="agent:kim", reason="same person, confirmed by phone")
    assert (event.action, event.mode, event.actor) == ("merge", "manual", "agent:kim")
    merged = store.get_contact(ann_id)
    assert merged is not None
    assert merged.message_counts == {"sms": 1, "twitter": 1}
    assert merged.sentiment_avg == -0.25
    assert merged.tags == ["vip", "churn-risk"]
    assert merged.attributes == {"plan": "gold", "tier": 1, "city": "Leeds"}  # the survivor's values win
    assert merged.display_name == "Robert"  # a person-given name beats a derived one
    assert merged.phones == ["+447911333444"] and merged.emails == ["ann@example.org"]
    tombstone = store.get_contact(bob_id)
    assert tombstone is not None and tombstone.merged_into == ann_id and tombstone.identities == []
    assert [c.id for c in store.search_contacts(None, 10, 0)[1]] == [ann_id]
    assert [e.id for e in store.history(ann_id)] == [event.id] == [e.id for e in store.history(bob_id)]


def test_bad_merges_are_refused_clearly(store: CRMStore) -> None:
    ann_id, bob_id = _two_people(store)
    with pytest.raises(InvalidRequest, match="itself"):
        store.merge(ann_id, ann_id)
    with pytest.raises(NotFound):
        store.merge(ann_id, "con_missing")
    with pytest.raises(NotFound):
        store.merge("con_missing", ann_id)
    store.merge(ann_id, bob_id)
    with pytest.raises(Conflict, match="merged into"):
        store.merge(ann_id, bob_id)
    with pytest.raises(Conflict):
        store.merge(bob_id, ann_id)


def test_unmerge_restores_both_contacts_exactly(store: CRMStore) -> None:
    ann_id, bob_id = _two_people(store)
    segment = store.segments.create("VIPs", "static")
    store.segments.add_members(segment.id, [bob_id])
    before = {ann_id: _snapshot(store, ann_id), bob_id: _snapshot(store, bob_id)}
    merge = store.merge(ann_id, bob_id)
    assert store.segments.member_ids(segment.id)[1] == [ann_id]
    undo = store.unmerge(ann_id, actor="agent:kim")
    assert (undo.action, undo.survivor_id, undo.absorbed_id) == ("unmerge", ann_id, bob_id)
    assert sorted(undo.identity_ids) == sorted(merge.identity_ids)
    assert _snapshot(store, ann_id) == before[ann_id]
    assert _snapshot(store, bob_id) == before[bob_id]
    assert store.segments.member_ids(segment.id)[1] == [bob_id]
    history = store.history(bob_id)
    assert [e.action for e in history] == ["merge", "unmerge"]
    assert history[0].undone_by == undo.id and history[0].undone_at is not None
    with pytest.raises(NotFound, match="no merge to undo"):
        store.unmerge(ann_id)


def test_an_undone_auto_merge_is_not_redone_by_the_next_message(store: CRMStore) -> None:
    by_email = author("email", "fay@example.org", email="fay@example.org")
    other = author("twitter", "fay_t", handle="fay", email="fay@example.org")
    store.upsert_from_messages([message(by_email, "e1")])
    mapping = store.upsert_from_messages([message(author("twitter", "fay_t", handle="fay"), "t0")])
    twitter_contact = mapping[other.id]
    joined = store.upsert_from_messages([message(other, "t1", minutes=1)])
    email_contact = store.contact_for_identity(by_email.id)
    assert joined[other.id] == email_contact
    [merge] = store.history(twitter_contact)
    assert (merge.mode, merge.reason, merge.absorbed_id) == (
        "auto",
        "shared email fay@example.org",
        twitter_contact,
    )
    store.unmerge(email_contact or "")
    assert store.contact_for_identity(other.id) == twitter_contact
    again = store.upsert_from_messages([message(other, "t2", minutes=2), message(by_email, "e2", minutes=2)])
    assert again[other.id] == twitter_contact and again[by_email.id] == email_contact
    twitter_view = store.get_contact(twitter_contact)
    assert twitter_view is not None and twitter_view.message_count == 3


def test_unmerge_takes_along_identities_that_joined_through_the_moved_ones(store: CRMStore) -> None:
    ann_id, bob_id = _two_people(store)
    store.merge(ann_id, bob_id)
    # a new identity sharing Bob's phone joins the merged contact through Bob's phone identity
    bob_on_whatsapp = author("whatsapp", "w-bob", phone="07911 333444")
    assert store.upsert_from_messages([message(bob_on_whatsapp, "w1")])[bob_on_whatsapp.id] == ann_id
    store.unmerge(bob_id)
    assert store.contact_for_identity(bob_on_whatsapp.id) == bob_id
    bob = store.get_contact(bob_id)
    assert bob is not None and bob.message_counts == {"sms": 1, "whatsapp": 1}


def test_unmerge_of_a_contact_merged_further_is_a_conflict(store: CRMStore) -> None:
    ann_id, bob_id = _two_people(store)
    cy = store.upsert_from_messages([message(author("facebook", "cy"), "c1")])
    cy_id = next(iter(cy.values()))
    first = store.merge(ann_id, bob_id)
    store.merge(cy_id, ann_id)
    with pytest.raises(Conflict, match="merged into"):
        store.unmerge(ann_id, event_id=first.id)
    store.unmerge(cy_id)
    store.unmerge(ann_id, event_id=first.id)
    assert {store.contact_for_identity(i) for i in first.identity_ids} == {bob_id}


def test_split_moves_identities_to_a_new_contact(store: CRMStore) -> None:
    ann_id, bob_id = _two_people(store)
    store.merge(ann_id, bob_id)
    bob_sms = author("sms", "+447911333444").id
    event = store.split(ann_id, [bob_sms], actor="agent:kim", reason="different people after all")
    assert event.action == "split" and event.survivor_id == ann_id
    new = store.get_contact(event.absorbed_id)
    assert new is not None and [i.id for i in new.identities] == [bob_sms]
    assert new.message_counts == {"sms": 1}
    assert store.contact_for_identity(bob_sms) == event.absorbed_id
    # the phone still links them, but a person said they differ: the next text does not re-merge
    again = store.upsert_from_messages([message(author("sms", "+447911333444", phone="+447911333444"), "b2")])
    assert again[bob_sms] == event.absorbed_id
    assert store.get_contact(event.absorbed_id).message_count == 2  # type: ignore[union-attr]
    with pytest.raises(InvalidRequest, match="do not belong"):
        store.split(ann_id, [bob_sms])
    with pytest.raises(InvalidRequest, match="at least one identity"):
        store.split(event.absorbed_id, [bob_sms])
    with pytest.raises(InvalidRequest):
        store.split(ann_id, [])
    with pytest.raises(NotFound):
        store.split("con_missing", [bob_sms])
    assert [e.action for e in store.history(ann_id)] == ["merge", "split"]


def test_contact_updates_set_name_tags_and_attributes(store: CRMStore) -> None:
    ann_id, _ = _two_people(store)
    updated = store.update_contact(
        ann_id, display_name="Ann B.", tags=[" a ", "b", "a", ""], attributes={"tier": None, "x": [1]}
    )
    assert updated.display_name == "Ann B."
    assert updated.tags == ["a", "b"]
    assert updated.attributes == {"plan": "gold", "x": [1]}
    with pytest.raises(NotFound):
        store.update_contact("con_missing", tags=[])
