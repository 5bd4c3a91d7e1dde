"""What an ingest run did, counted as it goes (in-process runs; each process has its own)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class IngestReport:
    """Counters an ingest run fills in; the CLI prints them as the run's summary.

    ``read`` counts source records, ``parsed`` the messages parsers produced, ``duplicates``
    messages dropped in the flow or already stored identically, ``ingested`` messages stored
    new or changed, ``dead_letters`` records that became dead letters, ``unsupported`` harmless
    events skipped, ``filtered`` feed items that did not match their listening query,
    ``conversations`` the conversations the run opened.
    """

    read: int = 0
    parsed: int = 0
    duplicates: int = 0
    created: int = 0
    updated: int = 0
    dead_letters: int = 0
    unsupported: int = 0
    filtered: int = 0
    conversations: int = 0

    @property
    def ingested(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "ingested": self.ingested}
