"""Segments: dynamic criteria evaluated on demand, static members, CSV import and export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import event

from crm import Conflict, CRMStore, InvalidCSV, InvalidRequest, NotFound
from crm.criteria import MAX_CRITERIA_TERMS, MAX_DEPTH, compile_criteria
from crm.segment_csv import IMPORT_MAX_PROBLEMS
from tests.crm.helpers import T0, author, message

NOW = T0 + timedelta(days=40)


def _population(store: CRMStore) -> dict[str, str]:
    """Five people with known channels, sentiment, activity and attributes."""
    people = {
        "angry_recent": author("twitter", "1", handle="grr", name="Angry Recent", email="ar@example.org"),
        "angry_old": author("twitter", "2", handle="old", name="Angry Old"),
        "happy": author("twitter", "3", handle="yay", name="Happy Tweeter"),
        "mailer": author("email", "m@corp.example", email="m@corp.example", name="Mailer"),
        "texter": author("sms", "+447911444555", phone="+447911444555"),
    }
    msgs = [
        message(people["angry_recent"], "a1", minutes=39 * 24 * 60, sentiment=-0.8, language="en"),
        message(people["angry_recent"], "a2", minutes=39 * 24 * 60 + 5, sentiment=-0.4, language="en"),
        message(people["angry_old"], "b1", minutes=0, sentiment=-0.9, language="fr"),
        message(people["happy"], "c1", minutes=38 * 24 * 60, sentiment=0.9, language="en"),
        message(people["mailer"], "d1", minutes=35 * 24 * 60, sentiment=-0.5, language="de"),
        message(people["mailer"], "d2", minutes=35 * 24 * 60 + 1, sentiment=-0.5, language="de"),
        message(people["mailer"], "d3", minutes=35 * 24 * 60 + 2, sentiment=-0.5, language="de"),
        message(people["texter"], "e1", minutes=10, language="en"),
    ]
    mapping = store.upsert_from_messages(msgs)
    ids = {name: mapping[who.id] for name, who in people.items()}
    store.update_contact(ids["happy"], tags=["vip"], attributes={"plan": "gold", "score": 9})
    store.update_contact(ids["mailer"], tags=["vip", "b2b"], attributes={"plan": "team", "score": "high"})
    return ids


def _members(store: CRMStore, criteria: str, ids: dict[str, str]) -> set[str]:
    segment = store.segments.create(f"s-{criteria}"[:256], "dynamic", criteria=criteria)
    total, members = store.segments.member_ids(segment.id, limit=100, now=NOW)
    assert total == len(members)
    names = {v: k for k, v in ids.items()}
    return {names[m] for m in members}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("channel:twitter AND sentiment_avg < -0.3 AND last_seen > now-30d", {"angry_recent"}),
        ("channel:twitter AND sentiment_avg < -0.3", {"angry_recent", "angry_old"}),
        ("channel:twitter OR channel:sms", {"angry_recent", "angry_old", "happy", "texter"}),
        ("NOT channel:twitter", {"mailer", "texter"}),
        ("tag:vip AND NOT tag:b2b", {"happy"}),
        ("(tag:vip OR language:fr) last_seen >= 2026-12-01", {"happy", "mailer"}),
        ("language:en", {"angry_recent", "happy", "texter"}),
        ("messages.email >= 3", {"mailer"}),
        ("message_count = 2", {"angry_recent"}),
        ("email:*@example.org", {"angry_recent"}),
        ("email:M@CORP.example", {"mailer"}),
        ("phone:07911444555", {"texter"}),
        ("handle:@YAY", {"happy"}),
        ('name:"angry"', {"angry_recent", "angry_old"}),
        ("attributes.plan:gold OR attributes.plan = team", {"happy", "mailer"}),
        ("attributes.score > 5", {"happy"}),
        ("first_seen < now-39d", {"angry_old", "texter"}),
        ("sentiment_avg >= 0", {"happy"}),
        ("tag:nobody", set()),
    ],
)
def test_dynamic_criteria_select_the_expected_people(
    store: CRMStore, criteria: str, expected: set[str]
) -> None:
    ids = _population(store)
    assert _members(store, criteria, ids) == expected


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ("channel:", "cannot parse criteria at column"),
        ("colour:red", "unknown field 'colour'"),
        ("sentiment_avg < low", "needs a number"),
        ("last_seen > yesterday", "needs a date"),
        ("channel < 3", "cannot be compared"),
        ("twitter", "cannot parse"),
        ("tag:vip AND (channel:sms", "cannot parse"),
        ("   ", "empty"),
    ],
)
def test_bad_criteria_are_refused_with_the_reason(criteria: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        compile_criteria(criteria)


def test_segment_definitions_are_validated(store: CRMStore) -> None:
    with pytest.raises(InvalidRequest):
        store.segments.create("x", "dynamic", criteria="nonsense here")
    with pytest.raises(InvalidRequest, match="static"):
        store.segments.create("x", "static", criteria="tag:vip")
    with pytest.raises(InvalidRequest, match="kind"):
        store.segments.create("x", "smart")
    store.segments.create("x", "static")
    with pytest.raises(Conflict):
        store.segments.create("x", "static")
    assert store.segments.get("seg_missing") is None
    with pytest.raises(NotFound):
        store.segments.member_ids("seg_missing")


def test_a_dynamic_segment_is_evaluated_on_demand_and_refreshable(store: CRMStore) -> None:
    ids = _population(store)
    segment = store.segments.create(
        "Unhappy", "dynamic", criteria="sentiment_avg < -0.3", description="triage"
    )
    assert segment.member_count == 0 and segment.refreshed_at is None
    assert store.segments.member_ids(segment.id, now=NOW)[0] == 3
    refreshed = store.segments.refresh(segment.id, now=NOW)
    assert refreshed.member_count == 3 and refreshed.refreshed_at is not None
    # the happy person turns unhappy: on-demand evaluation sees it at once
    happy = store.get_contact(ids["happy"])
    assert happy is not None
    store.upsert_from_messages(
        [message(author("twitter", "3"), f"c{n}", sentiment=-1.0) for n in range(2, 6)]
    )
    assert store.segments.member_ids(segment.id, now=NOW)[0] == 4
    # criteria can change; refreshed membership feeds segment: terms in other criteria
    store.segments.update(segment.id, criteria="sentiment_avg < -0.61")
    assert store.segments.refresh(segment.id, now=NOW).member_count == 2
    assert _members(store, "segment:Unhappy", ids) == {"angry_old", "happy"}
    with pytest.raises(InvalidRequest):
        store.segments.add_members(segment.id, [ids["texter"]])
    with pytest.raises(InvalidRequest):
        store.segments.update(segment.id, criteria="bad bad")


def test_static_members_page_and_survive_merges(store: CRMStore) -> None:
    ids = _population(store)
    segment = store.segments.create("Hand-picked", "static")
    assert store.segments.add_members(segment.id, [ids["texter"], ids["happy"], ids["texter"]]) == 2
    assert store.segments.add_members(segment.id, [ids["happy"]]) == 0
    with pytest.raises(NotFound):
        store.segments.add_members(segment.id, ["con_missing"])
    total, first_page = store.segments.member_ids(segment.id, limit=1, offset=0)
    _, second_page = store.segments.member_ids(segment.id, limit=1, offset=1)
    assert total == 2 and first_page + second_page == [ids["happy"], ids["texter"]]
    store.merge(ids["mailer"], ids["texter"])
    assert store.segments.member_ids(segment.id)[1] == [ids["happy"], ids["mailer"]]
    assert store.segments.remove_members(segment.id, [ids["happy"]]) == 1
    assert store.segments.get(segment.id).member_count == 1  # type: ignore[union-attr]
    store.segments.delete(segment.id)
    assert store.segments.get(segment.id) is None


def test_csv_import_matches_by_id_email_phone_and_handle_and_reports_the_rest(store: CRMStore) -> None:
    ids = _population(store)
    segment = store.segments.create("Imported", "static")
    text = (
        "\ufeffEmail,Phone,Handle,Channel,contact_id\n"
        "AR@Example.org,,,,\n"
        ",07911 444555,,,\n"
        ",,@yay,twitter,\n"
        ",,,,{mailer}\n"
        "nobody@example.org,,,,\n"
        ",,,,\n"
        ",,,,con_missing\n"
        "ar@example.org,,,,\n"
    ).format(mailer=ids["mailer"])
    report = store.segments.import_csv(segment.id, text)
    assert report.added == 4 and report.already == 1
    assert [(u["line"], u["reason"]) for u in report.unmatched] == [
        (6, "no contact with this email, phone or handle"),
        (7, "row has none of contact_id, email, phone, handle"),
        (8, "no contact with this contact_id"),
    ]
    assert store.segments.get(segment.id).member_count == 4  # type: ignore[union-attr]
    with pytest.raises(InvalidRequest, match="header"):
        store.segments.import_csv(segment.id, "name,age\nann,3\n")
    dynamic = store.segments.create("Dyn", "dynamic", criteria="tag:vip")
    with pytest.raises(InvalidRequest):
        store.segments.import_csv(dynamic.id, "email\nar@example.org\n")


def test_csv_export_lists_every_member_with_their_profile(store: CRMStore) -> None:
    ids = _population(store)
    segment = store.segments.create("VIP", "dynamic", criteria="tag:vip")
    rows = list(csv.reader(io.StringIO(store.segments.export_csv(segment.id))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["contact_id", "display_name", "emails"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    assert set(by_id) == {ids["happy"], ids["mailer"]}
    mailer = by_id[ids["mailer"]]
    assert mailer["emails"] == "m@corp.example" and mailer["tags"] == "vip;b2b"
    assert mailer["message_count"] == "3" and mailer["sentiment_avg"] == "-0.5"
    assert by_id[ids["happy"]]["handles"] == "twitter:yay"


def _or_not_chain(pairs: int) -> str:
    """``channel:sms OR NOT (channel:sms OR NOT (... tag:vip))``: two levels per pair."""
    criteria = "tag:vip"
    for _ in range(pairs):
        criteria = f"channel:sms OR NOT ({criteria})"
    return criteria


def test_criteria_as_deep_as_allowed_are_evaluated(store: CRMStore) -> None:
    ids = _population(store)
    deepest = _or_not_chain(MAX_DEPTH // 2)  # every level: "texter, or not ..." down to tag:vip
    assert _members(store, deepest, ids) == {"texter", "happy", "mailer"}
    assert _members(store, "NOT " * MAX_DEPTH + "tag:vip", ids) == {"happy", "mailer"}


def _nested_criteria(levels: int) -> str:
    """Criteria nesting NOT and OR ``levels`` deep, with terms that compile to subqueries."""
    terms = ["channel:twitter", "messages.email >= 1", "segment:VIP", "email:*@example.org"]
    criteria = "tag:vip"
    for level in range(levels // 2):
        criteria = f"NOT ({terms[level % len(terms)]} OR {criteria})"
    return criteria if levels % 2 == 0 else f"NOT {criteria}"


@pytest.mark.parametrize(
    "criteria",
    [
        _or_not_chain(MAX_DEPTH // 2 + 1),
        _or_not_chain(15),  # EXISTS subqueries nested 30 deep overflowed SQLite's parser stack
        "NOT " * 50 + "channel:x",  # "parser stack overflow"
        "NOT " * 500 + "channel:x",  # RecursionError
        "NOT (" * 500 + "channel:x" + ")" * 500,
    ],
    ids=["one level too deep", "OR/NOT 15 deep", "50 NOTs", "500 NOTs", "500 NOT groups"],
)
def test_criteria_nested_too_deep_are_refused_saying_so(criteria: str) -> None:
    with pytest.raises(InvalidRequest, match=f"deeper than {MAX_DEPTH} levels at column"):
        compile_criteria(criteria)


@pytest.mark.parametrize(
    "criteria",
    [
        _nested_criteria(MAX_DEPTH),
        "(" * 200 + "tag:vip" + ")" * 200,  # parentheses that group nothing do not nest
        " OR ".join(f"channel:c{n}" for n in range(MAX_CRITERIA_TERMS)),
        " ".join(["NOT NOT"] * (MAX_DEPTH // 2)) + " tag:vip",
    ],
    ids=["nested-subqueries", "redundant-parentheses", "most-terms", "nots"],
)
def test_criteria_at_the_limits_are_evaluated_by_the_database(store: CRMStore, criteria: str) -> None:
    ids = _population(store)
    members = _members(store, criteria, ids)
    assert members <= set(ids)


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (_nested_criteria(MAX_DEPTH + 1), f"deeper than {MAX_DEPTH} levels"),
        ("NOT " * 500 + "tag:x", f"deeper than {MAX_DEPTH} levels"),  # was a RecursionError
        ("NOT (" * 60 + "tag:x" + ")" * 60, f"deeper than {MAX_DEPTH} levels"),
        (" OR ".join(f"tag:t{n}" for n in range(MAX_CRITERIA_TERMS + 1)), "more than 200 terms"),
        ("sentiment_avg < nan", "needs a number"),
        ("message_count > inf", "needs a number"),
        ("messages.email >= -Infinity", "needs a number"),
    ],
    ids=["nested-17", "500-nots", "nested-parentheses", "too-many-terms", "nan", "inf", "-inf"],
)
def test_criteria_beyond_the_limits_are_refused(criteria: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        compile_criteria(criteria)


def test_a_csv_with_unreadable_records_is_refused_whole_with_the_first_problems(store: CRMStore) -> None:
    ids = _population(store)
    segment = store.segments.create("Imported", "static")
    bad_rows = "".join(f'"broken{n}"x\n' for n in range(25))
    text = f"contact_id\n{ids['happy']}\n{bad_rows}{ids['mailer']}\n" + "y" * 131_073 + "\n"
    with pytest.raises(InvalidCSV) as refused:
        store.segments.import_csv(segment.id, text)
    assert refused.value.count == 26
    assert [line for line, _ in refused.value.problems] == list(range(3, 3 + IMPORT_MAX_PROBLEMS))
    assert store.segments.member_ids(segment.id) == (0, []), "nothing was written"
    with pytest.raises(InvalidRequest, match="empty"):
        store.segments.import_csv(segment.id, "\n\n")


def test_a_csv_import_adds_in_batches_and_reports_counts_and_the_first_unmatched(store: CRMStore) -> None:
    ids = _population(store)
    segment = store.segments.create("Imported", "static")
    nobody = [f"nobody{n}@example.org" for n in range(30)]
    lines = [ids["happy"], ids["mailer"], ids["happy"], *nobody, "x" * 1000]
    text = "contact_id,email,notes\n" + "".join(
        f"{value},,{'n' * 300}\n" if value.startswith("con") else f",{value},\n" for value in lines
    )
    commits: list[object] = []

    def count_commit(conn: object) -> None:
        commits.append(conn)

    event.listen(store.engine, "commit", count_commit)
    try:
        report = store.segments.import_csv(segment.id, text, batch_rows=10)
    finally:
        event.remove(store.engine, "commit", count_commit)
    assert len(commits) == 4, "34 rows in batches of 10: four short transactions"
    assert (report.added, report.already, report.unmatched_count) == (2, 1, 31)
    assert len(report.unmatched) == IMPORT_MAX_PROBLEMS
    first = report.unmatched[0]
    assert first == {"line": 5, "row": {"email": "nobody0@example.org"}, "reason": first["reason"]}
    assert store.segments.get(segment.id).member_count == 2  # type: ignore[union-attr]


def test_an_export_neutralises_formulas_and_imports_back(store: CRMStore) -> None:
    ids = _population(store)
    store.update_contact(ids["happy"], display_name='=HYPERLINK("http://evil.example")', tags=["@SUM(A1)"])
    segment = store.segments.create("VIP", "dynamic", criteria='tag:vip OR tag:"@SUM(A1)"')
    rows = list(csv.reader(io.StringIO(store.segments.export_csv(segment.id))))
    happy = next(row for row in rows if row[0] == ids["happy"])
    assert happy[1] == '\'=HYPERLINK("http://evil.example")' and happy[-1] == "'@SUM(A1)"
    static = store.segments.create("Again", "static")
    report = store.segments.import_csv(static.id, store.segments.export_csv(segment.id))
    assert report.added == 2 and report.unmatched_count == 0


def test_a_handle_on_several_contacts_needs_a_channel(store: CRMStore) -> None:
    ids = _population(store)
    other = author("instagram", "9", handle="GRR", name="Another Grr")
    other_id = store.upsert_from_messages([message(other, "i1")])[other.id]
    segment = store.segments.create("Handles", "static")
    report = store.segments.import_csv(segment.id, "handle,channel\n@grr,\ngrr,instagram\n@Grr,twitter\n")
    assert report.unmatched == [
        {
            "line": 2,
            "row": {"handle": "@grr"},
            "reason": "handle matches several contacts; add a channel column",
        }
    ]
    assert set(store.segments.member_ids(segment.id)[1]) == {other_id, ids["angry_recent"]}


@pytest.mark.parametrize(
    "criteria", ['name:"a\\u0000b"', 'tag:"\\ud800"', "tag:a\x00b"], ids=["nul-escape", "surrogate", "nul"]
)
def test_criteria_spelling_what_the_database_cannot_compare_are_refused(
    store: CRMStore, criteria: str
) -> None:
    with pytest.raises(InvalidRequest, match=r"NUL|surrogate"):
        store.segments.create("Odd", "dynamic", criteria=criteria)
