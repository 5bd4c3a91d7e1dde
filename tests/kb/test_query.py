"""The query language: the AST it parses to, the errors it raises, the limits it keeps."""

from __future__ import annotations

import pytest

from hub.errors import InvalidInput
from kb.analysis import normalise_field_value, site_suffixes, tokenize
from kb.matcher import highlight
from kb.query import (
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_NEAR_DISTANCE,
    MAX_NOTS,
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
        ("a NEAR/50f b", Near((t("a"), t("b")), 50, True)),  # the widest NEAR
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
        ("refund OR refund OR Refunds", Or((t("refund"), t("refunds")))),  # repeated parts fold
        ("a a -b -b", And((t("a"), Not(t("b"))))),
        ("NOT NOT refund", t("refund")),  # a double negation is its operand
        ("NOT NOT NOT refund", Not(t("refund"))),
        ("NOT (NOT refund)", t("refund")),
        ("channel:(sms OR sms)", Field("channel", "sms")),
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
    with pytest.raises(QuerySyntaxError, match="more than 300 terms") as raised:
        parse_query(" OR ".join(["word"] * 400))  # counted as typed, before "word OR word" folds
    assert raised.value.position == len("word OR ") * MAX_LEAVES
    assert parse_query(" OR ".join(f"w{i}" for i in range(MAX_LEAVES))) is not None
    # redundant parentheses nest nothing: only operators count
    assert parse_query("(" * 500 + "x" + ")" * 500) == t("x")
    assert parse_query("y" * MAX_QUERY_CHARS) == t("y" * MAX_QUERY_CHARS)


def _nested(levels: int) -> str:
    """``a OR (b AND (c OR (d AND ...)))``: one operator level per word but the last."""
    words = [f"w{i}" for i in range(levels + 1)]
    query = words[-1]
    for level, word in reversed(list(enumerate(words[:-1]))):
        query = f"{word} {'OR' if level % 2 == 0 else 'AND'} ({query})"
    return query


def test_nesting_is_limited_by_operator_levels() -> None:
    deepest = parse_query(_nested(MAX_DEPTH))
    assert isinstance(deepest, Or)
    with pytest.raises(QuerySyntaxError, match=f"nested deeper than {MAX_DEPTH}") as raised:
        parse_query(_nested(MAX_DEPTH + 1))
    query = _nested(MAX_DEPTH + 1)
    assert raised.value.position == query.index(f"w{MAX_DEPTH}")  # where the level too many starts
    # each NOT is a level: a chain of them passes the limit even when it would cancel out
    assert parse_query("NOT " * MAX_DEPTH + "x") == t("x")
    with pytest.raises(QuerySyntaxError, match="nested deeper") as raised:
        parse_query("refund " + "NOT " * 39 + "x")
    assert raised.value.position == len("refund ") + len("NOT ") * (MAX_DEPTH - 1)


@pytest.mark.parametrize(
    "query",
    [
        "NOT " * 1000 + "x",  # ~500 NOTs used to raise RecursionError
        "NOT (" * 800 + "x" + ")" * 800,
        "(" * 2000 + "x" + ")" * 1999,  # unbalanced, very deep
        " OR ".join(["(a AND NOT (b"] * 200) + "))" * 200,
        "a NEAR/1 " * 500 + "b",
    ],
    ids=["NOT chain", "negated groups", "deep parentheses", "deep OR/NOT", "NEAR chain"],
)
def test_absurd_queries_are_syntax_errors_never_recursion_errors(query: str) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(query[:MAX_QUERY_CHARS])
    assert raised.value.position is not None and 0 <= raised.value.position <= MAX_QUERY_CHARS


def test_negations_are_limited_in_number() -> None:
    exclusions = "brand " + " ".join(f"-w{i}" for i in range(MAX_NOTS))
    assert isinstance(parse_query(exclusions), And)
    query = exclusions + " -spam"
    with pytest.raises(QuerySyntaxError, match=f"more than {MAX_NOTS} negations") as raised:
        parse_query(query)
    assert raised.value.position == query.index("-spam")


@pytest.mark.parametrize("distance", [MAX_NEAR_DISTANCE + 1, 999, 999_999, int("9" * 40)])
def test_near_beyond_the_widest_is_an_error_with_its_position(distance: int) -> None:
    query = f"delay NEAR/{distance} flight"
    with pytest.raises(QuerySyntaxError, match=f"largest distance is NEAR/{MAX_NEAR_DISTANCE}") as raised:
        parse_query(query)  # it used to become the two words "near" and the number
    assert raised.value.position == len("delay ")
    with pytest.raises(QuerySyntaxError, match="too wide"):
        parse_query(f"a NEAR/3f b NEAR/{distance}f c")


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
