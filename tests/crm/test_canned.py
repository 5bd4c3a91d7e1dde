"""Canned response rendering (crm.canned): the sandbox, autoescape for HTML channels, a missing
or blank placeholder named, unknown scopes refused, variants picked by language."""

from __future__ import annotations

import pytest

from crm import Conflict, CRMStore, InvalidRequest
from crm.canned import MissingPlaceholder, check_template, pick_variant, render

VALUES = {
    "contact": {"first_name": "Dana", "name": "Dana <b>Customer</b>"},
    "agent": {"name": "Sam"},
    "conversation": {"id": "cnv_1"},
}


def test_placeholders_are_filled() -> None:
    text = "Hi {{contact.first_name}}, {{agent.name}} here about {{ conversation.id }}."
    assert render(text, VALUES) == "Hi Dana, Sam here about cnv_1."
    assert render("{{ contact['first_name'] | upper }}", VALUES) == "DANA"


def test_html_channels_escape_values_plain_ones_do_not() -> None:
    assert render("<p>{{contact.name}}</p>", VALUES, html=True) == "<p>Dana &lt;b&gt;Customer&lt;/b&gt;</p>"
    assert render("{{contact.name}}", VALUES) == "Dana <b>Customer</b>"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_missing_or_blank_value_is_named(blank: str | None) -> None:
    values = {**VALUES, "contact": {"first_name": blank}}
    with pytest.raises(MissingPlaceholder) as caught:
        render("Hi {{contact.first_name}}!", values)
    assert caught.value.name == "contact.first_name"
    with pytest.raises(MissingPlaceholder, match=r"\{\{agent.title\}\}"):
        render("{{agent.title}}", VALUES)


def test_unknown_scopes_bad_syntax_and_the_sandbox_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="unknown placeholder 'customer'"):
        check_template("{{customer.name}}")
    with pytest.raises(InvalidRequest, match="does not parse"):
        check_template("{{contact.name")
    with pytest.raises(InvalidRequest):
        render("{{ agent.name.__class__.__mro__ }}", VALUES)


def test_variants_follow_the_languages_asked() -> None:
    variants = {"default": "Hi", "fr": "Salut", "de": "Hallo"}
    assert pick_variant(variants, ["fr"]) == ("fr", "Salut")
    assert pick_variant(variants, ["es", "de"]) == ("de", "Hallo")
    assert pick_variant(variants, ["es"]) == ("default", "Hi")
    assert pick_variant({"it": "Ciao", "en": "Hello"}, ["es"]) == ("en", "Hello")


def test_store_keeps_shortcuts_unique(store: CRMStore) -> None:
    first = store.canned.create("Ship", "ship", {"default": "Shipped"}, "a-1")
    with pytest.raises(Conflict):
        store.canned.create("Ship 2", "ship", {"default": "Shipped too"}, "a-1")
    other = store.canned.create("Refund", "refund", {"en": "Refunded"}, "a-1")
    with pytest.raises(Conflict):
        store.canned.update(other.id, shortcut="ship")
    before, after = store.canned.update(first.id, variants={"default": "On its way", "fr": "En route"})
    assert before.variants == {"default": "Shipped"} and after.variants["fr"] == "En route"
    assert [c.shortcut for c in store.canned.list(language="fr")] == ["ship"]
    with pytest.raises(InvalidRequest):
        store.canned.create("Bad", "bad", {"default": "{{nope}}"}, None)
    store.canned.delete(first.id)
    assert store.canned.get(first.id) is None
