"""What an ingest run did, counted as it goes (in-process runs; each process has its own), and
the file each of several flow processes keeps it in for the command that started them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["IngestReport", "read_report", "sum_reports", "write_report"]


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


def sum_reports(reports: Sequence[dict[str, object]]) -> IngestReport:
    """One report adding up the processes' reports (their conversation ids joined)."""
    total = IngestReport()
    for saved in reports:
        for f in fields(IngestReport):
            if f.name == "conversation_ids":
                total.conversation_ids.update(str(c) for c in saved.get(f.name, []))  # type: ignore[attr-defined]
            elif f.name in saved:
                setattr(total, f.name, getattr(total, f.name) + int(saved[f.name]))  # type: ignore[call-overload]
    return total


def write_report(path: Path, report: IngestReport, *, progress_only: bool = False) -> None:
    """Write ``report`` to ``path`` whole, or (``progress_only``) just its ``read`` count: the
    running rewrites every half second would otherwise serialise every conversation id so far."""
    data: dict[str, object] = (
        {"read": report.read}
        if progress_only
        else {**report.as_dict(), "conversation_ids": sorted(report.conversation_ids)}
    )
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(data), encoding="utf-8")
    scratch.replace(path)  # readers never see half a file


def read_report(path: Path) -> dict[str, object] | None:
    """What :func:`write_report` wrote to ``path``, or None while there is nothing (whole) there."""
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
