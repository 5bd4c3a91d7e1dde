"""The query language: the AST it parses to, the errors it raises, the limits it keeps."""

from __future__ import annotations

import pytest

from hub.errors import InvalidInput
from kb.analysis import normalise_field_value, site_suffixes, tokenize
from kb.matcher import highlight
from kb.query import (
    MAX_QUERY_CHARS,
    And,
    Field,
    Near,
    Not,
    Or,
    QuerySyntaxError,
    Text,
    parse_query,
    positive_texts,
)


def t(*tokens: str, prefix: bool = False) -> Text:
    return Text(tuple(tokens), prefix)


@pytest.mark.parametrize(
    ("query", "ast"),
    [
        ("refund", t("refund")),
        ("Refund late", And((t("refund"), t("late")))),
        ('"money back" -spam', And((t("money", "back"), Not(t("spam"))))),
        ("a OR b c", Or((t("a"), And((t("b"), t("c")))))),  # AND binds tighter than OR
        ("(a OR b) AND NOT c", And((Or((t("a"), t("b"))), Not(t("c"))))),
        ("a AND b AND c", And((t("a"), t("b"), t("c")))),  # flattened
        ("refu*", t("refu", prefix=True)),
        ("delay NEAR/3 flight", Near((t("delay"), t("flight")), 3, False)),
        ("delay NEAR/3f flight", Near((t("delay"), t("flight")), 3, True)),
        ('"flight delay" NEAR/5 refu*', Near((t("flight", "delay"), t("refu", prefix=True)), 5, False)),
        ("a NEAR/2 b NEAR/2 c", Near((t("a"), t("b"), t("c")), 2, False)),
        ("author:@Ann", Field("author", "ann")),
        ('entity:"Acme  Corp"', Field("entity", "acme corp")),
        ("LANGUAGE:EN", Field("lang", "en")),
        ("hashtag:#Fail", Field("hashtag", "fail")),
        ("site:https://www.Example.com/path?q=1", Field("site", "www.example.com")),
        ("channel:tw*", Field("channel", "tw", prefix=True)),
        ("channel:(twitter OR facebook)", Or((Field("channel", "twitter"), Field("channel", "facebook")))),
        ("status:open assignee:Bob", And((Field("status", "open"), Field("assignee", "bob")))),
        ("e-mail", t("e", "mail")),  # one word that tokenizes to two is a phrase
        ("and or not", And((t("and"), t("or"), t("not")))),  # lower case: words
        ("ANDROID ORACLE NOTION", And((t("android"), t("oracle"), t("notion")))),
        ("foo:bar", t("foo", "bar")),  # unknown field: text
        ("café", t("cafe")),
        ("+++ refund ~~~", t("refund")),  # tokens with no letters vanish
        ("-", None),
        ("", None),
        ("   \n\t", None),
        ('""', None),
    ],
)
def test_parses_to_ast(query: str, ast: object) -> None:
    assert parse_query(query) == ast


@pytest.mark.parametrize(
    ("query", "position", "expected_fragment"),
    [
        ("(refund", 7, "')'"),
        ("refund)", 6, "end of the query"),
        ('"refund', 0, "closing"),
        ('refund "money', 7, "closing"),
        ("refund OR", 9, "a term"),
        ("refund AND NOT", 14, "a term"),
        ("a NEAR/2 b NEAR/3 c", 2, "NEAR"),
        ("a NEAR/2 channel:x", 2, "NEAR"),
        ("a NEAR/2 (b OR c)", 2, "NEAR"),
        ("()", 1, "a term"),
    ],
)
def test_syntax_errors_name_position_and_expectation(
    query: str, position: int, expected_fragment: str
) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert info.value.position == position
    assert f"position {position + 1}" in str(info.value)
    assert expected_fragment in str(info.value)
    # the hub's invalid-input family (answered 400), never a ValueError: a corrupt stored
    # document (pydantic's ValidationError is a ValueError) must not read as a bad query
    assert isinstance(info.value, InvalidInput) and not isinstance(info.value, ValueError)


def test_limits_are_syntax_errors_not_crashes() -> None:
    with pytest.raises(QuerySyntaxError, match="limit is 4096"):
        parse_query("x" * 10_000)
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse_query("(" * 40 + "x" + ")" * 40)
    with pytest.raises(QuerySyntaxError, match="more than"):
        parse_query(" OR ".join(["word"] * 400))
    assert parse_query("(" * 30 + "x" + ")" * 30) == t("x")
    assert parse_query("y" * MAX_QUERY_CHARS) == t("y" * MAX_QUERY_CHARS)


def test_positive_texts_skip_negations_and_fields() -> None:
    node = parse_query('refund -spam channel:x ("money back" OR NOT late) a NEAR/2 b')
    assert positive_texts(node) == [t("refund"), t("money", "back"), t("a"), t("b")]


def test_analysis_helpers() -> None:
    assert tokenize("Ça_va? e-mail #Fail @bob") == ["ca", "va", "e", "mail", "fail", "bob"]
    assert site_suffixes("https://a.b.example.co.uk:8080/x") == [
        "a.b.example.co.uk",
        "b.example.co.uk",
        "example.co.uk",
        "co.uk",
    ]
    assert site_suffixes("localhost") == ["localhost"]
    assert site_suffixes("http://[aa+]/x") == []  # malformed: no site, no crash
    assert parse_query("site:[aa+]") == Field("site", "[aa+]")
    assert normalise_field_value("mention", "@Parley") == "parley"


def test_highlight_marks_stems_escapes_and_windows() -> None:
    text = "Refunds <now>! " + "filler " * 60 + "another refund here"
    fragments = highlight(text, [t("refund")])
    assert fragments[0].startswith("<mark>Refunds</mark> &lt;now&gt;!")
    assert "<mark>refund</mark>" in fragments[-1] and fragments[-1].startswith("…")
    assert highlight("nothing here", [t("refund")]) == []
    assert highlight("money back now, back money", [t("money", "back")]) == [
        "<mark>money</mark> <mark>back</mark> now, back money"
    ]
