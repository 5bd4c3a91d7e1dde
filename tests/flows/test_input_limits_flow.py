"""Through the real flow: a line past the input limits is a dead letter, the rest of the file is
ingested, what is stored reads back, and restarting (with recovery, or replaying) never crashes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig
from bytewax.testing import run_main

from cli.cluster import ensure_recovery_dir
from crm import open_crm
from flows.imports import FileImportSource, iter_records
from flows.ingest import build_flow, parse_item
from flows.report import IngestReport
from hub.models import DeadLetter, Message, message_id
from hub.settings import Settings
from kb import open_kb


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def line(native_id: str, **payload: Any) -> str:
    body = {"native_id": native_id, "text": f"message {native_id}", **payload}
    return json.dumps({"channel": "twitter", "kind": "parley.message", "payload": body}) + "\n"


#: line number -> what must become of it
STORED = {1: "first", 6: "deepest-allowed", 8: "last"}
REFUSED = {
    2: "payload.metadata.a.a",  # 200 levels, 1.8 KB: stopped `parley run` on every restart
    3: "payload.metadata.a.a",  # 500 levels: PydanticSerializationError
    4: "metadata.a.a",  # 20 levels: within the JSONL reader's limit, past the parser's
    5: "lone surrogate",
    7: "not JSON: nested too deeply",
}


def poison_file(tmp_path: Path) -> Path:
    path = tmp_path / "poison.jsonl"
    path.write_text(
        line("first")
        + line("bomb-200", metadata=nested(200))
        + line("bomb-500", metadata=nested(500))
        + line("deep-20", metadata=nested(20))
        + line("surrogate", text="broken \ud83d emoji")
        + line("deepest-allowed", metadata={"k": nested(15)})
        + "[" * 200_000
        + "\n"
        + line("last")
    )
    return path


def run(settings: Settings, paths: Sequence[Path], *, recovery: bool) -> IngestReport:
    report = IngestReport()
    config = RecoveryConfig(str(ensure_recovery_dir(settings, 1))) if recovery else None
    flow = build_flow(settings, [("import", FileImportSource(list(paths)))], report=report)
    run_main(flow, epoch_interval=timedelta(seconds=1), recovery_config=config)
    return report


def stored_messages(settings: Settings) -> list[Message]:
    kb = open_kb(settings)
    try:
        return list(kb.iter_messages())  # what `parley kb export` and `kb migrate` read
    finally:
        kb.close()


def dead_letters(settings: Settings) -> list[DeadLetter]:
    crm = open_crm(settings)
    try:
        return crm.list_dead_letters(limit=100)[1]
    finally:
        crm.close()


def test_the_parse_steps_output_always_round_trips(tmp_path: Path) -> None:
    outputs = [out for record in iter_records(poison_file(tmp_path)) for out in parse_item(record)]
    messages = [m for m in outputs if isinstance(m, Message)]
    assert sorted(m.native_id for m in messages) == sorted(STORED.values())
    for message in messages:
        assert Message.model_validate_json(message.model_dump_json()) == message
    for letter in outputs:
        if isinstance(letter, DeadLetter):
            assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


def test_poison_lines_are_dead_letters_and_restarts_do_not_crash(settings: Settings, tmp_path: Path) -> None:
    source = poison_file(tmp_path)

    first = run(settings, [source], recovery=True)
    assert (first.created, first.dead_letters) == (len(STORED), len(REFUSED))

    stored = {m.native_id: m for m in stored_messages(settings)}
    assert set(stored) == set(STORED.values())
    assert stored["deepest-allowed"].metadata == {"k": nested(15)}  # 16 deep: stored, read back
    letters = {int(d.raw_ref.rsplit(":", 1)[1]): d for d in dead_letters(settings) if d.raw_ref}
    assert set(letters) == set(REFUSED)
    for number, reason in REFUSED.items():
        assert reason in letters[number].reason, letters[number].reason
    assert "bomb-200" in letters[2].raw  # the raw line, to fix and replay

    # a restart resumes from its snapshots; a replay without them reads everything again
    resumed = run(settings, [source], recovery=True)
    replayed = run(settings, [source], recovery=False)
    assert resumed.created == replayed.created == 0
    assert replayed.dead_letters == len(REFUSED)
    assert {m.native_id for m in stored_messages(settings)} == set(STORED.values())
    assert len(dead_letters(settings)) == len(REFUSED)  # the same input, the same dead letters
    kb = open_kb(settings)
    try:
        assert kb.get_message(message_id("twitter", "bomb-200")) is None
    finally:
        kb.close()
