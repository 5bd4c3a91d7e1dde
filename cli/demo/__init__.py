"""The bundled demo dataset that ``parley run`` ingests when no channel is configured.

``demo.jsonl`` holds a few hundred envelopes for the fictional brand "Parley Coffee" across
email (RFC 822), Twitter/X, Facebook, feeds (blog comments, forum replies) and SMS: threads
with brand replies, people who appear on two channels, mixed sentiment and languages, all
dated in the 30 days before 2026-11-20. It is written by ``python -m tools.demo.generate``
(deterministic) and committed; this module only reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from cli.demo.brand import BRAND_EMAIL, BRAND_NAME, BRAND_PHONE, BRAND_TWITTER, FB_PAGE
from hub.models import Envelope
from hub.settings import Settings

__all__ = ["BURST_PATH", "DEMO_IDENTITIES", "DEMO_PATH", "demo_envelopes", "demo_settings"]

#: The JSONL file, one envelope per line (shipped as package data).
DEMO_PATH: Path = Path(__file__).resolve().with_name("demo.jsonl")
#: 30 angry tweets about the brand within three minutes of 2026-11-20 09:00 UTC, the morning
#: after the demo period: ``parley ingest`` it to see a monitor's alert fire (README)
BURST_PATH: Path = Path(__file__).resolve().with_name("burst.jsonl")


#: The demo brand's own identities by channel (``BrandSettings.identities``): messages they
#: author are outbound replies.
DEMO_IDENTITIES: dict[str, list[str]] = {
    "email": [BRAND_EMAIL],
    "sms": [BRAND_PHONE],
    "twitter": [BRAND_TWITTER],
    "facebook": [FB_PAGE],
}


def demo_settings(settings: Settings) -> Settings:
    """``settings`` plus the demo brand: its name and its own address, number and handles."""
    settings = settings.with_identities(DEMO_IDENTITIES)
    names = list(dict.fromkeys([*settings.brand.names, BRAND_NAME]))
    return settings.model_copy(update={"brand": settings.brand.model_copy(update={"names": names})})


def demo_envelopes(path: Path = DEMO_PATH) -> Iterator[Envelope]:
    """Yield the demo envelopes in file order, each with ``raw_ref`` ``demo.jsonl:<line>``.

    The file is written by the project, so a line that does not validate is a bug and raises
    (pydantic ``ValidationError``) rather than becoming a dead letter.
    """
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            record.setdefault("raw_ref", f"{path.name}:{number}")
            yield Envelope.model_validate(record)
