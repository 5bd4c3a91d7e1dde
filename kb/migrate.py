"""Copy a whole knowledge base into another backend, resumably, and verify the counts.

``parley kb migrate --to elasticsearch`` (and back) calls :func:`migrate_kb`. Conversations
are copied first so that a target which denormalises conversation state onto messages
(Elasticsearch) has it when the messages arrive. After every batch the number of documents
copied so far is checkpointed in ``state_path`` (written atomically); an interrupted run
started again skips what was already copied (the source iterates in a stable order, and
upserts are idempotent, so an overlap after a crash writes nothing twice). At the end both
sides are counted and any difference is reported. A source document that no longer
validates is skipped and reported in ``MigrationReport.errors`` like one the target refused,
so the migration completes but is not verified.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Protocol

from hub.iterables import batched
from hub.models import Conversation, Message
from kb.base import KnowledgeBase, OnUnreadable, UnreadableDocument, UpsertResult

__all__ = ["DocumentSource", "MigrationReport", "migrate_kb"]


class DocumentSource(Protocol):
    """What a migration reads: every document, in a stable order, and how many there are.

    Every ``KnowledgeBase`` is one; so is ``kb.sqlite.reindex.StoredDocuments`` (a file of an
    older layout, read as documents only).
    """

    def iter_messages(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Message]: ...

    def iter_conversations(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Conversation]: ...

    def count_messages(self) -> int: ...

    def count_conversations(self) -> int: ...


_Phase = Literal["conversations", "messages"]
_Upsert = Callable[[Sequence[Any]], UpsertResult]
#: a phase's name, its source iterator (called with batch_size), target upsert, documents to skip
_PhaseSpec = tuple[_Phase, Callable[..., Iterable[Any]], _Upsert, int]
_VERSION = 1


@dataclass
class MigrationReport:
    """What a migration did; ``verified`` is true when the target holds as many documents."""

    conversations_copied: int = 0
    messages_copied: int = 0
    source_conversations: int = 0
    source_messages: int = 0
    target_conversations: int = 0
    target_messages: int = 0
    #: documents skipped because an earlier, interrupted run had copied them
    resumed_conversations: int = 0
    resumed_messages: int = 0
    #: id -> reason, for documents the target refused or the source could not read
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems and not self.errors


def _load_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # an unreadable checkpoint: start over (idempotent upserts make that safe)
    if not isinstance(state, dict) or state.get("version") != _VERSION or state.get("phase") == "done":
        return {}
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"version": _VERSION, **state}))
    os.replace(tmp, path)


def _copy_phase(
    phase: _Phase,
    documents: Iterable[Any],
    upsert: _Upsert,
    *,
    skip: int,
    saved: dict[str, Any],
    state_path: Path,
    batch_size: int,
    report: MigrationReport,
    progress: Callable[[int], None],
) -> tuple[int, dict[str, Any]]:
    """Copy ``documents`` after the first ``skip``, checkpointing ``<phase>_done`` per batch.

    ``saved`` is the checkpoint so far; returns how many were copied and the last checkpoint.
    """
    done = skip
    state = {**saved, "phase": phase, f"{phase}_done": done}
    for batch in batched(islice(documents, skip, None), batch_size):
        result = upsert(batch)
        report.errors.update(result.errors)
        done += len(batch)
        state = {**saved, "phase": phase, f"{phase}_done": done}
        _save_state(state_path, state)
        progress(len(batch))
    return done - skip, state


def migrate_kb(
    source: DocumentSource,
    target: KnowledgeBase,
    *,
    state_path: Path,
    on_progress: Callable[[int, int], None] | None = None,
    batch_size: int = 500,
) -> MigrationReport:
    """Copy every conversation and message from ``source`` to ``target``.

    ``on_progress(done, total)`` is called after each batch (documents of both kinds, resumed
    ones included in ``done``). Returns a report; ``report.verified`` says whether the target
    ended with at least the source's counts and refused nothing.
    """
    state = _load_state(state_path)
    report = MigrationReport(
        source_conversations=source.count_conversations(), source_messages=source.count_messages()
    )
    report.resumed_conversations = int(state.get("conversations_done", 0))
    report.resumed_messages = int(state.get("messages_done", 0))
    total = report.source_conversations + report.source_messages
    done = report.resumed_conversations + report.resumed_messages

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done, total)

    if on_progress is not None:
        on_progress(done, total)

    def unreadable(document: UnreadableDocument) -> None:
        report.errors[document.id] = f"unreadable in the source ({document.kind}): {document.reason}"

    # conversations first: a target that copies their state onto messages has it when they come
    conversations: _PhaseSpec = (
        "conversations",
        source.iter_conversations,
        target.upsert_conversations,
        report.resumed_conversations,
    )
    messages: _PhaseSpec = ("messages", source.iter_messages, target.upsert_messages, report.resumed_messages)
    phases = [messages] if state.get("phase") == "messages" else [conversations, messages]
    saved: dict[str, Any] = state
    copied: dict[_Phase, int] = {}
    for phase, documents, upsert, skip in phases:
        copied[phase], saved = _copy_phase(
            phase,
            documents(batch_size=batch_size, on_unreadable=unreadable),
            upsert,
            skip=skip,
            saved=saved,
            state_path=state_path,
            batch_size=batch_size,
            report=report,
            progress=progress,
        )
    report.conversations_copied = copied.get("conversations", 0)
    report.messages_copied = copied.get("messages", 0)
    _verify(target, report)
    _save_state(state_path, {**saved, "phase": "done"})
    return report


def _verify(target: KnowledgeBase, report: MigrationReport) -> None:
    target.refresh()  # a search engine counts only what it has refreshed
    report.target_conversations = target.count_conversations()
    report.target_messages = target.count_messages()
    for kind, wanted, have in (
        ("conversations", report.source_conversations, report.target_conversations),
        ("messages", report.source_messages, report.target_messages),
    ):
        if have < wanted:
            report.problems.append(f"target has {have} {kind}, source has {wanted}")
    if report.errors:
        report.problems.append(f"{len(report.errors)} documents were not copied (see the errors)")
