"""The feed list the API manages, without HTTP: checks, merge with settings, typed errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from channels.feeds import registry
from channels.feeds.addresses import RefusedFeedURL
from channels.feeds.registry import FeedAlreadyPolled, FeedInSettings, UnknownFeed, feed_id
from channels.feeds.settings import FeedConfig
from hub.settings import Settings


@pytest.fixture
def hub(settings: Settings) -> Settings:
    settings.channels["feeds"] = {"feeds": [{"url": "http://93.184.215.14/configured.xml", "name": "conf"}]}
    return settings


def test_add_checked_strips_merges_and_refuses_duplicates(hub: Settings) -> None:
    added = registry.add_checked(hub, FeedConfig(url="  http://93.184.215.14/a.xml ", query="  "))
    assert added.url == "http://93.184.215.14/a.xml" and added.query is None and added.origin == "api"
    assert [(f.origin, f.url) for f in registry.list_all(hub)] == [
        ("settings", "http://93.184.215.14/configured.xml"),
        ("api", "http://93.184.215.14/a.xml"),
    ]
    with pytest.raises(FeedAlreadyPolled) as again:
        registry.add_checked(hub, FeedConfig(url="http://93.184.215.14/a.xml", name="other"))
    assert again.value.existing.id == added.id
    with pytest.raises(FeedAlreadyPolled) as configured:
        registry.add_checked(hub, FeedConfig(url="http://93.184.215.14/configured.xml"))
    assert configured.value.existing.origin == "settings"


def test_checks_run_before_anything_is_stored(hub: Settings) -> None:
    class BadQuery(Exception):
        pass

    def reject(query: str) -> None:
        raise BadQuery(query)

    with pytest.raises(BadQuery, match="acme AND"):
        registry.add_checked(
            hub, FeedConfig(url="http://93.184.215.14/b.xml", query=" acme AND "), validate_query=reject
        )
    with pytest.raises(RefusedFeedURL, match="loopback"):
        registry.add_checked(hub, FeedConfig(url="http://127.0.0.1/c.xml"), validate_query=reject)
    assert [f.origin for f in registry.list_all(hub)] == ["settings"]


def test_remove_only_runtime_feeds(hub: Settings) -> None:
    added = registry.add_checked(hub, FeedConfig(url="http://93.184.215.14/a.xml"))
    with pytest.raises(FeedInSettings, match="remove it there"):
        registry.remove(hub, feed_id("http://93.184.215.14/configured.xml"))
    registry.remove(hub, added.id)
    with pytest.raises(UnknownFeed):
        registry.remove(hub, added.id)
    assert [f.origin for f in registry.list_all(hub)] == ["settings"]


def test_the_feeds_channel_does_not_import_the_kb() -> None:
    """Dependency direction: hub.models <- channels <- kb; the KB's query check is passed in."""
    package = Path(registry.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n == "kb" or n.startswith("kb.")], module.name
