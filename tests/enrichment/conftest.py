"""One enricher per test session: the models load once, as they do once per flow process."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrichment import build_nlp
from enrichment.pipeline import Enricher
from hub.models import Message
from hub.settings import BrandSettings, EnrichmentSettings

FIXTURES = Path(__file__).parent / "fixtures"

TEST_SETTINGS = EnrichmentSettings(cache_size=1000)
#: the brand the ruler tags: two names and a handle (an email address is not a handle)
TEST_BRAND = BrandSettings(
    names=["Parley", "Acme Cloud"], identities={"twitter": ["@ParleyHQ"], "email": ["care@parley.example"]}
)


@pytest.fixture(scope="session")
def enrichment_settings() -> EnrichmentSettings:
    return TEST_SETTINGS


@pytest.fixture(scope="session")
def enricher(enrichment_settings: EnrichmentSettings) -> Enricher:
    return build_nlp(enrichment_settings, TEST_BRAND)


def make_message(text: str, native_id: str = "1", language: str | None = None) -> Message:
    return Message(channel="twitter", native_id=native_id, text=text, language=language)
