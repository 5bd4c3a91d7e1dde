"""Helpers to run the ingest dataflow in-process over files."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bytewax.testing import run_main

from flows.imports import FileImportSource
from flows.ingest import build_flow
from flows.report import IngestReport
from hub.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"

T = TypeVar("T")


def in_child(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` run in a fresh (spawned) Python process; its result, or its exception.

    For anything that calls Bytewax's ``cluster_main`` (``flows.placement`` does): it replaces
    the process's Rust panic hook for good, with one that prints each later worker panic's
    Python traceback to ``sys.stderr``. In the pytest process every later ``run_main`` whose step
    fails then prints a traceback too (``parley ingest`` over a damaged store, in tests/cli,
    showed one after tests/flows had run); the hook cannot be put back from Python, so it is
    kept out of the test process instead. ``func`` and ``args`` must pickle (module-level).
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(func, *args).result(timeout=300)


def ingest(settings: Settings, paths: Sequence[Path]) -> IngestReport:
    """Run the real ingest dataflow over ``paths`` to completion; return its report."""
    report = IngestReport()
    run_main(build_flow(settings, [("import", FileImportSource(list(paths)))], report=report))
    return report


@pytest.fixture
def threads_file() -> Path:
    return FIXTURES / "envelopes__threads.jsonl"
