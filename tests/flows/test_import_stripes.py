"""Several flow processes read one import path in stripes: every record once, each decoded once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import cluster_main

import flows.imports as imports
from flows.imports import FileImportSource, ImportItem, Stripe, iter_records
from hub.models import DeadLetter, Envelope
from tests.flows.conftest import in_child

FIXTURES = Path(__file__).parent / "fixtures"

MAIL = b"From: Ann <ann@example.org>\r\nSubject: hi\r\nMessage-ID: <%d@x>\r\n\r\nHello\r\n"


def _identity(record: ImportItem) -> tuple[str, str | None, str]:
    if isinstance(record, Envelope):
        return ("envelope", record.raw_ref, str(record.payload)[:60])
    assert isinstance(record, DeadLetter)
    return ("dead letter", record.raw_ref, record.reason)


def _folder(tmp_path: Path) -> Path:
    """JSONL (envelopes and bad lines), an mbox of three, an .eml, a binary file and a FIFO."""
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes((FIXTURES / "envelopes__threads.jsonl").read_bytes())
    (folder / "b.mbox").write_bytes(
        b"".join(b"From ann@example.org Mon Nov 23 10:00:00 2026\n" + MAIL % n for n in range(3))
    )
    (folder / "c.eml").write_bytes(MAIL % 9)
    (folder / "d.jsonl").write_bytes(b"\x00\x01\x02 binary")
    os.mkfifo(folder / "e.jsonl")
    return folder


@pytest.mark.parametrize("readers", [2, 3])
def test_the_stripes_of_a_path_hold_each_of_its_records_once(tmp_path: Path, readers: int) -> None:
    folder = _folder(tmp_path)
    whole = [_identity(r) for r in iter_records(folder)]
    stripes = [[_identity(r) for r in iter_records(folder, Stripe(k, readers))] for k in range(readers)]
    assert len(whole) == 15 + 3 + 1 + 1 + 1
    assert sorted(r for stripe in stripes for r in stripe) == sorted(whole)  # each once, none twice
    for k, stripe in enumerate(stripes):
        assert stripe == whole[k::readers]  # the k-th of every `readers`, in the path's order
    # dead letters (bad lines, the binary file, the FIFO) are records like any other
    assert {kind for stripe in stripes for kind, _, _ in stripe} == {"envelope", "dead letter"}


def test_a_jsonl_stripe_does_not_decode_the_other_stripes_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes((FIXTURES / "envelopes__threads.jsonl").read_bytes())
    decoded: list[int] = []
    real = imports._jsonl_record

    def counting(file: Any, line: Any) -> ImportItem:
        decoded.append(line.number)
        return real(file, line)

    monkeypatch.setattr(imports, "_jsonl_record", counting)
    first = list(iter_records(path, Stripe(0, 2)))
    assert len(first) == 8 and len(decoded) == 8  # of 15 records, only its own 8 are decoded
    decoded.clear()
    second = list(iter_records(path, Stripe(1, 2)))
    assert len(second) == 7 and len(decoded) == 7
    assert not {r.raw_ref for r in first} & {r.raw_ref for r in second}


def test_one_reader_keeps_the_plain_path_as_its_partition(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"")
    assert FileImportSource([path]).list_parts() == [str(path.absolute())]


def test_each_stripe_is_a_partition_that_resumes_from_its_own_count(tmp_path: Path) -> None:
    path = (tmp_path / "lines.jsonl").absolute()
    path.write_bytes((FIXTURES / "envelopes__threads.jsonl").read_bytes())
    source = FileImportSource([path], batch_size=4, readers=2)
    parts = source.list_parts()
    assert parts == [f"{path}#0of2", f"{path}#1of2"]
    expected = [_identity(r) for r in iter_records(path, Stripe(1, 2))]

    part = source.build_part("import", parts[1], None)
    first = part.next_batch()
    assert [_identity(r) for r in first] == expected[:4] and part.snapshot() == 4
    part.close()
    resumed = source.build_part("import", parts[1], 4)  # a restart after 4 were emitted
    rest = resumed.next_batch()
    assert [_identity(r) for r in rest] == expected[4:7]
    with pytest.raises(StopIteration):
        resumed.next_batch()
    resumed.close()


def test_ten_readers_name_their_stripes_so_they_sort_in_order(tmp_path: Path) -> None:
    path = (tmp_path / "x.jsonl").absolute()
    path.write_bytes(b"")
    parts = FileImportSource([path], readers=12).list_parts()
    assert parts == sorted(parts) and parts[0] == f"{path}#00of12" and parts[11] == f"{path}#11of12"


def _reader_of_each_record(path: Path) -> dict[str | None, int]:
    """Which worker of a two-worker cluster read each record of ``path`` (by raw ref)."""
    read_by: dict[str | None, int] = {}

    class _Seen(StatelessSinkPartition[ImportItem]):
        def __init__(self, worker: int) -> None:
            self._worker = worker

        def write_batch(self, items: list[ImportItem]) -> None:
            for item in items:
                assert item.raw_ref not in read_by  # nothing read twice
                read_by[item.raw_ref] = self._worker

    class _Where(DynamicSink[ImportItem]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> _Seen:
            return _Seen(worker_index)

    flow = Dataflow("stripes")
    # no keyed step between the input and the sink: each record stays on the worker that read it
    records = op.input("import", flow, FileImportSource([path], batch_size=2, readers=2))
    op.output("where", records, _Where())
    cluster_main(flow, [], 0, worker_count_per_proc=2)
    return read_by


def test_a_cluster_gives_each_worker_one_stripe_to_read(tmp_path: Path) -> None:
    path = (tmp_path / "lines.jsonl").absolute()
    path.write_bytes((FIXTURES / "envelopes__threads.jsonl").read_bytes())
    read_by = in_child(_reader_of_each_record, path)  # cluster_main's panic hook stays there

    for k in range(2):
        stripe = {r.raw_ref for r in iter_records(path, Stripe(k, 2))}
        assert {read_by[ref] for ref in stripe} == {k}
    assert len(read_by) == 15
