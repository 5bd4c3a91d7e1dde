"""Backends under test: the embedded one always, Elasticsearch when ``PARLEY_ES_URL`` is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hub.settings import ElasticsearchSettings, Settings
from kb.base import KnowledgeBase
from kb.sqlite import SQLiteKB
from tests.kb.docs import CONVERSATIONS, MESSAGES
from tests.kb.elasticsearch.fake_es import FakeElasticsearch

if TYPE_CHECKING:
    from kb.elasticsearch import ElasticsearchKB

BACKENDS = [
    "sqlite",
    pytest.param(
        "elasticsearch",
        marks=[
            pytest.mark.elasticsearch,
            pytest.mark.skipif(not os.environ.get("PARLEY_ES_URL"), reason="PARLEY_ES_URL is not set"),
        ],
    ),
]


def es_settings(tmp_path: Path) -> Settings:
    """Settings for a throwaway index prefix on the Elasticsearch at ``PARLEY_ES_URL``."""
    es = ElasticsearchSettings(
        url=os.environ["PARLEY_ES_URL"],
        api_key=os.environ.get("PARLEY_ES__API_KEY") or None,
        username=os.environ.get("PARLEY_ES__USERNAME") or None,
        password=os.environ.get("PARLEY_ES__PASSWORD") or None,
        ca_certs=os.environ.get("PARLEY_ES__CA_CERTS") or None,
        index_prefix=f"parley-test-{uuid.uuid4().hex[:10]}",
    )
    return Settings(data_dir=tmp_path / "data", demo=False, es=es)


def make_kb(name: str, tmp_path: Path) -> KnowledgeBase:
    if name == "sqlite":
        return SQLiteKB(tmp_path / "kb.sqlite3")
    from kb.elasticsearch import ElasticsearchKB

    return ElasticsearchKB.from_settings(es_settings(tmp_path), refresh=True)


def drop_kb(kb: KnowledgeBase) -> None:
    drop = getattr(kb, "drop", None)
    if drop is not None:
        drop()
    kb.close()


@pytest.fixture(params=BACKENDS)
def empty_kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeBase]:
    kb = make_kb(request.param, tmp_path)
    yield kb
    drop_kb(kb)


@pytest.fixture
def loaded_kb(empty_kb: KnowledgeBase) -> KnowledgeBase:
    # messages first, as the ingest flow writes them: conversation state must still reach them
    empty_kb.upsert_messages(MESSAGES)
    empty_kb.upsert_conversations(CONVERSATIONS)
    return empty_kb


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    """A wire-level Elasticsearch stand-in (see elasticsearch/fake_es.py)."""
    with FakeElasticsearch() as server:
        yield server


@pytest.fixture
def fake_kb(fake: FakeElasticsearch, tmp_path: Path) -> Iterator[ElasticsearchKB]:
    """``ElasticsearchKB`` on ``fake`` as production configures it, with millisecond bulk backoff."""
    from kb.elasticsearch import ElasticsearchKB

    settings = Settings(
        data_dir=tmp_path, demo=False, es=ElasticsearchSettings(url=fake.url, index_prefix="t")
    )
    store = ElasticsearchKB.from_settings(settings)
    store.bulk_initial_backoff_s = 0.001
    yield store
    store.close()
