"""Concurrent writers: several processes resolving overlapping identities at once end with one
contact per person, no identity lost and no message counted twice (real connections, real
processes; on PostgreSQL and on SQLite)."""

from __future__ import annotations

import multiprocessing
import random
import traceback
from typing import Any

from crm import open_crm
from hub.models import Identity, Message, identity_id
from hub.settings import Settings
from tests.crm.helpers import author, message

PEOPLE = 40
BATCH = 8
WORKERS = 3


def _person(i: int) -> dict[str, Identity]:
    email = f"person{i}@example.org"
    phone = f"+44791100{i:04d}"
    return {
        "twitter": author("twitter", f"t{i}", handle=f"p{i}", email=email.upper()),
        "sms": author("sms", phone, phone=phone),
        "email": author("email", email, email=email),
        # the bridge: carries both the email and the phone
        "facebook": author("facebook", f"f{i}", email=email, phone=f"07911 00{i:04d}"),
    }


def _workload(worker: int) -> list[list[Message]]:
    """Each worker sends different channels of the same people, each batch twice (a replay)."""
    channels = [("twitter", "sms"), ("facebook", "email"), ("sms", "facebook")][worker]
    msgs = [
        message(_person(i)[channel], f"{channel}-{i}", minutes=i)
        for i in range(PEOPLE)
        for channel in channels
    ]
    random.Random(worker).shuffle(msgs)
    batches = [msgs[start : start + BATCH] for start in range(0, len(msgs), BATCH)]
    return batches + batches[::-1]


def _run_worker(data_dir: str, database_url: str | None, worker: int, start: Any, errors: Any) -> None:
    try:
        crm = open_crm(Settings(data_dir=data_dir, database_url=database_url, demo=False))
        start.wait(timeout=60)
        try:
            for batch in _workload(worker):
                crm.upsert_from_messages(batch)
        finally:
            crm.close()
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")


def test_concurrent_processes_merge_overlapping_identities_into_one_contact_each(
    crm_settings: Settings,
) -> None:
    open_crm(crm_settings).close()  # migrate once, before the race
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    errors = context.Queue()
    processes = [
        context.Process(
            target=_run_worker,
            args=(str(crm_settings.data_dir), crm_settings.database_url, w, start, errors),
        )
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=240)
    failures = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert failures == []
    assert all(p.exitcode == 0 for p in processes)

    crm = open_crm(crm_settings)
    try:
        assert crm.count_contacts() == PEOPLE
        expected_counts = {"twitter": 1, "sms": 1, "email": 1, "facebook": 1}
        for i in range(PEOPLE):
            person = _person(i)
            rows = [ident.id for ident in person.values()] + [identity_id("phone", f"+44791100{i:04d}")]
            owners = {crm.contact_for_identity(row) for row in rows}
            assert len(owners) == 1 and None not in owners, f"person {i}: {owners}"
            contact = crm.get_contact(owners.pop() or "")
            assert contact is not None and contact.merged_into is None
            assert contact.message_counts == expected_counts
            assert len(contact.identities) == 5
    finally:
        crm.close()
