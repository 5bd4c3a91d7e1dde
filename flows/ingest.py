"""The ingest dataflow: sources → parse → dedupe → enrich → thread → sinks.

::

    sources (channel pollers, webhook inbox, file import) ── Envelope | DeadLetter
      → parse         channels.parse_envelope; failures become dead letters; messages
                      with a listen_query (feed items) must match it
      → dedupe        keyed by shard of message id (flows.placement: spread evenly over
                      the processes); drops exact replays
      → enrich        one process: each batch as read (op.flat_map_batch); several: batched
                      per shard (op.collect) → enrichment.enrich(batch)
      → monitors      every enabled monitor's matches, 5-minute windows and alerts
                      (flows.monitors; a branch: the messages go on to the thread step)
      → thread        keyed by author shard → each message's thread link
                      (ThreadState),
                      with each channel's threading rules (CHANNELS[c].threading)
      → kb            batched: conversations decided in the CRM store (crm.threads), messages
                      written, folded threads moved, roll-ups; refused → dead letters
      → sinks         crm (authors → contacts)
    dead letters      → dead-letter sink (CRM store)

Run it in-process with ``parley run`` / ``parley ingest``, or as processes with
``python -m bytewax.run "flows.ingest:get_flow()" -i N -a "host:port;..." -r DIR -s 5 -b 0``.
Parallelism is by processes, never ``-w`` threads (the GIL makes threads slower here): a
cluster, or (files only) processes that each read everything and keep a ``ProcessShare``
after the parse step (``cli.cluster``).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TypeGuard, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import KeyedStream

from channels import CHANNELS, author_id_before_parsing, configure, parse_envelope
from channels.base import NamedSource
from flows.imports import FileImportSource, ImportItem
from flows.inbox import inbox_sources
from flows.kb_writer import KBWriteStep, Linked
from flows.monitors import add_monitor_steps
from flows.placement import balanced_labels
from flows.report import IngestReport
from flows.sinks import crm_sink, dead_letter_sink
from flows.threading import ThreadState, thread_link
from hub.errors import FatalError, InvalidInput, SkippableError, UnsupportedEvent
from hub.models import DeadLetter, Direction, Envelope, Message
from hub.settings import Settings

__all__ = [
    "SHARE_BATCHES",
    "ProcessShare",
    "author_shard",
    "build_flow",
    "default_sources",
    "get_flow",
    "message_shard",
    "preload",
]

log = logging.getLogger("parley.flow")

X = TypeVar("X")

#: keys the dedupe and enrich steps are spread over; processes take keys by hash, and with
#: few keys two processes got uneven shares of the enrichment work (1.14x vs 1.29x at 64)
SHARDS = 64


def _raw_text(envelope: Envelope) -> str:
    """The envelope as it arrived, minus the arrival time (so a replay is the same dead letter)."""
    payload = envelope.payload
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "backslashreplace")
    try:
        return envelope.model_dump_json(include={"channel", "kind", "account", "payload"})
    except ValueError:  # lone surrogates, bytes that are not UTF-8, nesting past the writer's limit
        pass
    try:
        return repr(payload)
    except RecursionError:  # nested past Python's own limit: the reason says so, the ref says where
        return f"<{type(payload).__name__} nested too deeply to show>"


def _sent_by_us(message: Message, own: frozenset[str]) -> bool:
    author = message.author
    if author is None or not own:
        return False
    names = (author.native_id, author.email, author.phone, author.handle)
    return any(name and name.strip().lower().lstrip("@") in own for name in names)


def parse_item(
    item: ImportItem,
    report: IngestReport | None = None,
    own: frozenset[str] = frozenset(),
    *,
    count_read: bool = True,
) -> list[Message | DeadLetter]:
    """One source item → its messages, or a dead letter saying why it could not be read.

    Messages whose author is one of the hub's ``own`` identities are outbound; messages that do
    not match their ``listen_query`` (a feed's listening query) are dropped (counted as
    ``filtered``). ``count_read`` false: another process counts the item as read.
    """
    if report is not None and count_read:
        report.read += 1
    if isinstance(item, DeadLetter):
        return [item]
    try:
        messages = parse_envelope(item)
    except UnsupportedEvent as exc:
        log.debug("skipped unsupported %s/%s event: %s", item.channel, item.kind, exc)
        if report is not None:
            report.unsupported += 1
        return []
    except SkippableError as exc:
        return [_parse_dead_letter(item, str(exc))]
    except Exception as exc:  # a parser bug must not stop the flow or lose the input
        log.exception("parser for %s/%s crashed", item.channel, item.kind)
        return [_parse_dead_letter(item, f"parser error ({type(exc).__name__}): {exc}")]
    if report is not None:
        report.parsed += len(messages)
    out: list[Message | DeadLetter] = []
    for message in messages:
        try:
            keep = matches_listening_query(message)
        except InvalidInput as exc:  # the feed's query does not parse: say so, keep the item
            out.append(_parse_dead_letter(item, f"listening query of this feed is invalid: {exc}"))
            continue
        if not keep:
            if report is not None:
                report.filtered += 1
            continue
        out.append(
            message.model_copy(update={"direction": Direction.OUT}) if _sent_by_us(message, own) else message
        )
    return out


def _parse_dead_letter(item: Envelope, reason: str) -> DeadLetter:
    return DeadLetter(
        stage="parse",
        reason=reason,
        raw=_raw_text(item),
        channel=item.channel,
        kind=item.kind,
        raw_ref=item.raw_ref,
    )


@lru_cache(maxsize=256)
def _matcher(query: str) -> Callable[[Message], bool]:
    from kb.matcher import compile_matcher

    return compile_matcher(query)


def matches_listening_query(message: Message) -> bool:
    """True when ``message`` matches its ``listen_query`` (a feed's listening query), or has none.

    Raises ``InvalidInput`` (``QuerySyntaxError``) when the query itself does not parse.
    """
    if not message.listen_query:
        return True
    return _matcher(message.listen_query)(message)


def _is_message(item: Message | DeadLetter) -> TypeGuard[Message]:
    return isinstance(item, Message)


def _shard_of(name: str) -> int:
    return int(hashlib.blake2b(name.encode(), digest_size=2).hexdigest(), 16) % SHARDS


def message_shard(message: Message) -> int:
    """The dedupe and enrich shard of ``message``: one of ``SHARDS``, by its id (so every
    replay of a message lands on the shard that has seen it)."""
    return _shard_of(message.id)


def author_shard(message: Message) -> int:
    """The thread step's shard of ``message``: one of ``SHARDS``, by its author.

    The step's only memory, the subject fallback, is looked up by (account, subject, author),
    so every message that can use an entry lands on the shard holding it; the shards spread
    the step, and the KB write and CRM sink after it, over every process (keyed by
    channel+account, before, one busy account kept them all on one process).
    """
    return _shard_of(message.author.id if message.author is not None else message.id)


#: a shared-nothing process's batches against one process's (``ProcessShare.read_batch``). On
#: 20,000 tweets, 2 processes against 1 (alternated rounds): 1.81x as the median of 6 rounds
#: with 2, 1.76x with 1, 1.81x with 4 (3 rounds); each process's peak memory rose by 5 MiB
#: with 2, by 26 with 4, to 265 and 286 MiB against one process's 273 (bench/README.md)
SHARE_BATCHES = 2


@dataclass(frozen=True)
class ProcessShare:
    """Process ``index`` of ``count`` that each read every record and keep their own share, with
    no exchange between them (``parley ingest --processes N``: a file import, a shared-nothing
    run; see ``cli.cluster``).

    A process keeps the messages of the author shards ``i`` with ``i % count == index``, so
    everything the flow keys by author shard or message id (the thread step's subject memory,
    the dedupe of a message's replays: one message, one author) stays in one process, as in a
    cluster; process 0 also keeps what could not be read or parsed (dead letters) and counts
    the records read. A record whose author is known before parsing (``parley.message``) is
    parsed by its author's process only, which keeps whatever it yields, its dead letter too
    (:meth:`parse`).
    """

    index: int
    count: int

    def keeps(self, item: Message | DeadLetter) -> bool:
        """Whether this process carries ``item`` on (each item: exactly one process does)."""
        if isinstance(item, Message):
            return self.owns(author_shard(item))
        return self.index == 0

    def owns(self, shard: int) -> bool:
        return shard % self.count == self.index

    def read_batch(self, batch_size: int) -> int:
        """How many records to read at a time for batches of this process's share of about
        ``SHARE_BATCHES * batch_size`` messages (``flow.batch_size``): it keeps about 1/count.

        Larger than one process's, because the processes write to the same SQLite stores: a
        write transaction holds the one write lock the other process waits for, and after it
        the other process's page cache is stale, so fewer and larger ones cost less a message.
        """
        return batch_size * self.count * SHARE_BATCHES

    def parse(
        self, item: ImportItem, report: IngestReport | None, own: frozenset[str] = frozenset()
    ) -> list[Message | DeadLetter]:
        """This process's share of what ``item`` parses into (``parse_item``), counted in
        ``report`` so that the processes' reports add up to one process's.

        Parsing the records another process keeps cost each process about 1% of its time
        (35-50 us a tweet): where the author can be read off the record, only the author's
        process parses it.
        """
        first = report if self.index == 0 else None
        author = None if isinstance(item, DeadLetter) else author_id_before_parsing(item)
        if author is None:  # every process parses it and keeps its share; the first counts
            return [parsed for parsed in parse_item(item, first, own) if self.keeps(parsed)]
        if not self.owns(_shard_of(author)):
            if first is not None:
                first.read += 1
            return []
        return parse_item(item, report, own, count_read=first is not None)


def _fingerprint(message: Message) -> str:
    content = f"{message.subject}\x1f{message.text}\x1f{message.html}\x1f{sorted(message.flags)}"
    return hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass
class DedupeState:
    """Fingerprints of the messages a shard has passed on, newest last (bounded by the step)."""

    seen: OrderedDict[str, str] = field(default_factory=OrderedDict)


def _dedupe(
    capacity: int, report: IngestReport | None
) -> Callable[[DedupeState | None, Message], tuple[DedupeState, Iterable[Message]]]:
    def step(state: DedupeState | None, message: Message) -> tuple[DedupeState, Iterable[Message]]:
        state = state or DedupeState()
        fingerprint = _fingerprint(message)
        if state.seen.get(message.id) == fingerprint:
            if report is not None:
                report.duplicates += 1
            return state, ()
        state.seen[message.id] = fingerprint  # an edit (same id, new content) passes through
        state.seen.move_to_end(message.id)
        while len(state.seen) > capacity:
            state.seen.popitem(last=False)
        return state, (message,)

    return step


def _enrich_batch(settings: Settings) -> Callable[[list[Message]], list[Message]]:
    def step(batch: list[Message]) -> list[Message]:
        from enrichment import enrich

        try:
            return list(enrich(batch, settings.enrichment, settings.brand))
        except Exception:  # enrichment is best effort; the messages must still be stored
            log.exception("enrichment failed for a batch of %d; storing them unenriched", len(batch))
            return batch

    return step


class _ThreadStep:
    """The thread step's mapper: each message with its ``ThreadLink`` (see ``flows.threading``).

    Each channel's subject window comes from its descriptor's threading rules; channels with
    no package (``parley.message`` envelopes of any name) thread by reply links only.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._windows: dict[str, timedelta | None] = {
            name: channel.threading(settings).subject_window for name, channel in CHANNELS.items()
        }

    def __call__(self, state: ThreadState | None, message: Message) -> tuple[ThreadState, Linked]:
        state = state or ThreadState()
        state.capacity = self._settings.flow.state_capacity  # configuration, not restored state
        link = thread_link(state, message, subject_window=self._windows.get(message.channel))
        return state, (message, link)


def _message(item: Linked) -> Message:
    return item[0]


def channel_sources(settings: Settings) -> list[NamedSource]:
    """A source for every configured channel account (each descriptor's ``sources``)."""
    return [
        named
        for channel in CHANNELS.values()
        if channel.sources is not None
        for named in channel.sources(settings)
    ]


def default_sources(settings: Settings, processes: int | None = 1) -> list[NamedSource]:
    """Sources for the configured channels, the webhook inbox (when it has work) and a file
    import source for the import paths (read in one stripe per process, when known)."""
    sources = channel_sources(settings) + inbox_sources(settings)
    if settings.import_paths:
        paths = list(settings.import_paths)
        batch = settings.flow.batch_size
        sources.append(("import", FileImportSource(paths, batch_size=batch, readers=processes or 1)))
    return sources


def _lane(processes: int | None, shards: Sequence[str]) -> Callable[[int], str]:
    """The key that collects shard ``i``'s messages into batches: one label a process, owned
    by the process that owns the shard (``flows.placement``), so collecting never moves a
    message between processes; per shard when the number of processes is not known."""
    if not processes:
        return lambda shard: shards[shard]
    lanes = balanced_labels(processes, processes)
    return lambda shard: lanes[shard % processes]


def _collected(step_id: str, stream: KeyedStream[X], settings: Settings) -> Stream[list[X]]:
    """``stream`` in lists per key of up to ``flow.batch_size`` items, or what came within
    ``flow.batch_timeout_ms``."""
    flow = settings.flow
    batches = op.collect(step_id, stream, timedelta(milliseconds=flow.batch_timeout_ms), flow.batch_size)
    return op.key_rm(f"{step_id}_unkeyed", batches)


def preload(settings: Settings) -> None:
    """Load what the flow's first batch would: the enrichment models its configured steps use
    (not the language detector: text whose channel states its language never needs it), then
    move everything loaded so far out of the garbage collector's generations. Called before
    the flow runs; where the process has something to wait for anyway (a migration, the
    other processes), before it waits, so the loading overlaps the wait."""
    import gc

    from enrichment import build_nlp
    from enrichment.entities import limit_blas_threads

    settings = configure(settings)
    limit_blas_threads(settings.enrichment)
    build_nlp(settings.enrichment, settings.brand).warm_up(detector=False)
    # What is loaded by now (modules, the models' Python objects) lives as long as the process:
    # kept out of the collector's way, each full collection walks only the flow's own objects.
    gc.freeze()


def build_flow(
    settings: Settings,
    sources: Sequence[NamedSource] | None = None,
    *,
    report: IngestReport | None = None,
    processes: int | None = 1,
    share: ProcessShare | None = None,
) -> Dataflow:
    """The ingest dataflow over ``sources`` (default: ``default_sources(settings)``), for a run
    as ``processes`` Bytewax processes (None: not known, as under ``python -m bytewax.run``;
    batched for several). With a ``share``, the flow is one process's of a shared-nothing run:
    every process reads all of ``sources`` and carries on only its share (``processes`` must be
    1: nothing crosses processes).

    ``settings`` pass through ``channels.configure`` first (idempotent), so every step sees
    the brand's identities with the channels' own accounts.
    """
    if share is not None and processes != 1:
        raise ValueError("a shared-nothing share is a flow of its own process: processes must be 1")
    settings = configure(settings)
    sources = list(sources) if sources is not None else default_sources(settings, processes)
    if not sources:
        raise FatalError("nothing to ingest: configure a channel, set PARLEY_IMPORT_PATHS or enable the demo")
    from enrichment import build_nlp

    build_nlp(
        settings.enrichment, settings.brand
    )  # a misconfigured pipeline fails here, at start-up, not mid-flow
    flow = Dataflow("parley_ingest")
    streams = [op.input(step_id, flow, source) for step_id, source in sources]
    items = streams[0] if len(streams) == 1 else op.merge("merge_inputs", *streams)

    own = settings.own_identities()
    if share is None:
        parsed = op.flat_map("parse", items, lambda item: parse_item(item, report, own))
    else:  # every process reads every record and parses its share
        parsed = op.flat_map("parse", items, lambda item: share.parse(item, report, own))
    split = op.branch("split_dead_letters", parsed, _is_message)

    # shard i is owned by worker i % processes (flows.placement): Bytewax's hash of 64 plain
    # labels gave one of two processes 60% of a step's keys
    shards = balanced_labels(SHARDS, processes)
    sharded = op.key_on("shard", split.trues, lambda message: shards[message_shard(message)])
    per_shard = max(1000, settings.flow.state_capacity // SHARDS)
    fresh = op.stateful_flat_map("dedupe", sharded, _dedupe(per_shard, report))
    lane = _lane(processes, shards)
    if processes == 1:
        # One process: the batches the sources read (``flow.batch_size`` records) go to
        # enrichment as they arrive, so reading waits for the work. Collected per shard, the
        # 64 shards' buffers held the input read ahead (509 against 317 MiB on 20,000 tweets)
        # and gave NER batches of about 40.
        enriched = op.flat_map_batch("enrich", op.key_rm("unshard", fresh), _enrich_batch(settings))
    else:
        # Several: the exchange hands each process its shards' messages in small pieces, and
        # enriching (and writing) those as they come cost 2 processes a third of their speed-up
        # and doubled their memory. They are collected per process (``_lane``): per shard, 32
        # buffers a process filled to about 20 messages before their timeout, and spaCy's NER
        # costs 18% more a text in batches of 20 than of 64.
        laned = op.key_on("lane", op.key_rm("unshard", fresh), lambda m: lane(message_shard(m)))
        enriched = op.flat_map("enrich", _collected("batch", laned, settings), _enrich_batch(settings))
    if settings.monitors.enabled:
        add_monitor_steps(enriched, settings)  # listening monitors: windows, corrections, alerts

    by_author = op.key_on("thread_key", enriched, lambda message: shards[author_shard(message)])
    linked = op.key_rm("unthread", op.stateful_map("thread", by_author, _ThreadStep(settings)))
    dead_letters: Stream[DeadLetter] = split.falses  # type: ignore[assignment]

    op.output("crm", op.map("authors", linked, _message), crm_sink(settings))
    # a step, not a sink: it decides each batch's conversations in the relational store, and
    # what the knowledge base refuses joins the dead letters
    if processes == 1:
        refused = op.flat_map_batch("kb", linked, KBWriteStep(settings, report))
    else:  # collected per process too: as they came, batches of about 40 cost 9% more a message
        by_lane = op.key_on("kb_lane", linked, lambda item: lane(author_shard(item[0])))
        refused = op.flat_map("kb", _collected("kb_batch", by_lane, settings), KBWriteStep(settings, report))
    all_dead_letters = op.merge("all_dead_letters", dead_letters, refused)
    op.output("dead_letters", all_dead_letters, dead_letter_sink(settings, report))
    return flow


def get_flow(*paths: str) -> Dataflow:
    """Entry point for ``python -m bytewax.run "flows.ingest:get_flow()"``; reads Settings from env.

    Ingests the configured channels and ``PARLEY_IMPORT_PATHS`` (or the paths given).
    """
    from enrichment.entities import limit_blas_threads

    settings = Settings()
    if paths:
        settings = settings.model_copy(update={"import_paths": [Path(p) for p in paths]})
    limit_blas_threads(settings.enrichment)
    return build_flow(settings, processes=None)
