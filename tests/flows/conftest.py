"""Helpers to run the ingest dataflow in-process over files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from bytewax.testing import run_main

from flows.imports import FileImportSource
from flows.ingest import build_flow
from flows.report import IngestReport
from hub.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


def ingest(settings: Settings, paths: Sequence[Path]) -> IngestReport:
    """Run the real ingest dataflow over ``paths`` to completion; return its report."""
    report = IngestReport()
    run_main(build_flow(settings, [("import", FileImportSource(list(paths)))], report=report))
    return report


@pytest.fixture
def threads_file() -> Path:
    return FIXTURES / "envelopes__threads.jsonl"
