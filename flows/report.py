"""What an ingest run did, counted as it goes (in-process runs; each process has its own)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class IngestReport:
    """Counters an ingest run fills in; the CLI prints them as the run's summary.

    ``read`` counts source records, ``parsed`` the messages parsers produced, ``duplicates``
    messages dropped in the flow or already stored identically, ``ingested`` messages stored
    new or changed, ``dead_letters`` records that became dead letters, ``unsupported`` harmless
    events skipped, ``filtered`` feed items that did not match their listening query,
    ``conversations`` the conversations the run's messages are in at its end (created or
    touched; set by the caller from ``conversation_ids``, which later folds may have merged).
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
    #: the conversations the run's messages were written into (not part of the summary)
    conversation_ids: set[str] = field(default_factory=set)

    @property
    def ingested(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict[str, int]:
        counts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "conversation_ids"}
        return {**counts, "ingested": self.ingested}
