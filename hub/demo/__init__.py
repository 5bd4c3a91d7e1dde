"""The bundled demo dataset that ``parley run`` ingests when no channel is configured.

``demo.jsonl`` holds a few hundred envelopes for the fictional brand "Parley Coffee" across
email (RFC 822), Twitter/X, Facebook, feeds (blog comments, forum replies) and SMS: threads
with brand replies, people who appear on two channels, mixed sentiment and languages, all
dated in the 30 days before 2026-11-20. It is written by ``python -m hub.demo.generate``
(deterministic) and committed; this module only reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from hub.models import Envelope

__all__ = ["DEMO_PATH", "demo_envelopes"]

#: The JSONL file, one envelope per line (shipped as package data).
DEMO_PATH: Path = Path(__file__).resolve().with_name("demo.jsonl")


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
