"""Monitors: what counting them in the flow costs, how fast a backfill is, how well spikes are found.

In one run:

  (a) the whole ingest dataflow over N generated messages (message times in order, as a live
      stream), the monitor steps absent (``monitors.enabled = false``): the baseline
  (b) the same with 200 monitors enabled (match, windows, stored hits, alerts): the overhead
      against (a); (a) and (b) alternate ``--rounds`` times and the fastest of each is kept
      (the machine is shared: the slowest runs measure the neighbours)
  (c) the monitor match step alone (``flows.monitors.MonitorMatchStep``: prefilter, matchers,
      hits) over the same messages, enriched, with 10, 50 and 200 monitors: messages/s, and its
      time as a share of (a)'s time per message
  (d) a backfill of one monitor over 100k messages stored in the embedded knowledge base
  (e) spike detection on synthetic series with known spikes (tests/monitors/synthetic.py):
      precision and recall at the default k

Run: python bench/monitors.py [--n 3000] [--stored 100000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# bench/kb.py and bench/crm.py would shadow the packages of the same name: the repo root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bytewax.testing import run_main
from rich.progress import Progress

from api.monitor_backfill import backfill
from channels import parse_envelope
from crm import open_crm
from crm.alert_rules import spike_thresholds
from crm.monitors import AlertSettings
from enrichment import enrich
from flows.imports import FileImportSource, iter_records
from flows.ingest import build_flow
from flows.monitors import MonitorMatchStep
from hub.models import Enrichment, Entity, Envelope, Identity, Message
from hub.settings import MonitorSettings, Settings
from kb.sqlite import SQLiteKB
from tests.monitors.synthetic import synthetic_series

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _ingest_generator():  # bench/ingest.py's envelope generator, loaded by path (no package)
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate_in_order(path: Path, n: int) -> None:
    """bench/ingest.py's envelopes, their message times rewritten to one every 2 s, in order."""
    ingest = _ingest_generator()
    raw = path.with_suffix(".raw.jsonl")
    ingest.generate(raw, n)
    with raw.open() as src, path.open("w") as out:
        for i, line in enumerate(src):
            envelope = json.loads(line)
            envelope["payload"]["created_at"] = (T0 + timedelta(seconds=2 * i)).isoformat()
            out.write(json.dumps(envelope) + "\n")


def monitor_queries(count: int, seed: int = 3) -> list[tuple[str, str]]:
    """``count`` (name, query) pairs like a brand's: products, competitors, campaigns, issues."""
    ingest = _ingest_generator()
    rng = random.Random(seed)
    shapes = [
        lambda i: f'brand{i} OR "{rng.choice(ingest.PRODUCTS)}" NEAR/4 broken',
        lambda i: f'"{rng.choice(ingest.PRODUCTS)}" AND {rng.choice(ingest.CITIES)}',
        lambda i: f"competitor{i} OR rival{i} -job",
        lambda i: f"hashtag:fail AND {rng.choice(ingest.CITIES)}",
        lambda i: f"campaign{i} OR (launch{i} AND coffee)",
        lambda i: f"channel:twitter AND (refund OR discount) AND {rng.choice(ingest.NAMES)}",
        lambda i: f'"{rng.choice(ingest.PRODUCTS)}" NEAR/3f disappointed',
        lambda i: f"issue{i}* OR outage{i}",
    ]
    return [(f"monitor {i}", shapes[i % len(shapes)](i)) for i in range(count)]


def install_monitors(settings: Settings, count: int) -> None:
    crm = open_crm(settings)
    try:
        for monitor in crm.monitors.list_all():
            crm.monitors.delete(monitor.id)
        for name, query in monitor_queries(count):
            crm.monitors.create(name, query, alerts=AlertSettings())
    finally:
        crm.close()


def run_flow(settings: Settings, source: Path) -> float:
    started = time.perf_counter()
    run_main(build_flow(settings, [("import", FileImportSource([source]))]))
    return time.perf_counter() - started


def fresh_settings(base: Path, name: str, *, monitors: bool) -> Settings:
    settings = Settings(data_dir=base / name, demo=False, monitors=MonitorSettings(enabled=monitors))
    settings.enrichment.cache_size = 0
    return settings


def stored_messages(count: int, seed: int = 11) -> list[Message]:
    """``count`` enriched messages over 30 days, as the knowledge base holds them."""
    ingest = _ingest_generator()
    rng = random.Random(seed)
    words = ["love", "broken", "refund", "late", "great", "coffee", "order", "help", "again", "why"]
    out = []
    for n in range(count):
        product = rng.choice(ingest.PRODUCTS)
        text = f"{product} {' '.join(rng.sample(words, 4))} in {rng.choice(ingest.CITIES)}"
        out.append(
            Message(
                channel=rng.choice(["twitter", "facebook", "email"]),
                native_id=f"s{n}",
                conversation_id=f"cnv_{n // 3}",
                text=text,
                created_at=T0 - timedelta(seconds=rng.randrange(30 * 86400)),
                language="en",
                author=Identity(channel="twitter", native_id=f"u{n % 5000}", handle=f"u{n % 5000}"),
                enrichment=Enrichment(
                    language="en",
                    sentiment_label=rng.choice(["negative", "neutral", "positive"]),
                    hashtags=["fail"] if "broken" in text else [],
                    entities=[Entity(text=product, label="PRODUCT")],
                ),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="messages through the ingest flow")
    parser.add_argument("--stored", type=int, default=100_000, help="messages stored for the backfill")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of (a) and (b), alternating; the fastest kept"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        source = base / "stream.jsonl"
        generate_in_order(source, args.n)

        # (a) and (b): the whole flow without and with 200 monitors, alternating
        absent: list[float] = []
        present: list[float] = []
        for round_ in range(args.rounds):
            absent.append(run_flow(fresh_settings(base, f"absent{round_}", monitors=False), source))
            with_monitors = fresh_settings(base, f"present{round_}", monitors=True)
            install_monitors(with_monitors, 200)
            present.append(run_flow(with_monitors, source))
        crm = open_crm(with_monitors)
        windows = sum(len(crm.monitors.windows(m.id)) for m in crm.monitors.list_all())
        crm.close()

        # (c): the match step alone over the same messages, enriched
        settings = fresh_settings(base, "step", monitors=True)
        messages = [m for r in iter_records(source) if isinstance(r, Envelope) for m in parse_envelope(r)]
        messages = list(enrich(messages, settings.enrichment, settings.brand))
        step_rates: dict[int, tuple[float, int]] = {}
        for count in (10, 50, 200):
            install_monitors(settings, count)
            step = MonitorMatchStep(settings)
            step.refresh(force=True)
            started = time.perf_counter()
            hits = sum(len(step(m)) for m in messages)
            step_rates[count] = (time.perf_counter() - started, hits)
            step.close()

        # (d): backfill over stored messages
        kb_settings = fresh_settings(base, "backfill", monitors=True)
        kb_settings.ensure_data_dir()
        kb = SQLiteKB(kb_settings.kb_path)
        stored = stored_messages(args.stored)
        with Progress(transient=True) as progress:
            task = progress.add_task(f"storing {len(stored)} messages", total=len(stored))
            for start in range(0, len(stored), 5000):
                kb.upsert_messages(stored[start : start + 5000])
                progress.advance(task, 5000)
        crm = open_crm(kb_settings)
        monitor = crm.monitors.create("Kettle trouble", '"Tidepool kettle" AND (broken OR refund OR late)')
        started = time.perf_counter()
        found = backfill(kb, crm, monitor)
        backfill_time = time.perf_counter() - started
        backfill_windows = len(crm.monitors.windows(monitor.id))
        crm.close()
        kb.close()

    n = len(messages)
    a, b = min(absent), min(present)
    print(f"messages through the flow: {n} (one every 2 s of message time, in order)")
    print(f"(a) ingest flow, monitor steps absent   {n / a:9.1f} msgs/s")
    print(f"(b) ingest flow, 200 monitors           {n / b:9.1f} msgs/s   {windows} windows stored")
    print(f"    overhead of 200 monitors: {100 * (b - a) / a:+.1f}% of the flow's time (goal: under 10%)")
    print("(c) monitor match step alone (enriched messages):")
    for count, (elapsed, hits) in step_rates.items():
        share = 100 * (elapsed / n) / (a / n)
        rate = f"{n / elapsed:10.1f} msgs/s  {hits / n:5.2f} matches/msg"
        print(f"    {count:3d} monitors  {rate}  = {share:4.1f}% of (a)")
    print(
        f"(d) backfill over {len(stored)} stored messages: {found} matched, {backfill_windows} windows, "
        f"{backfill_time:.2f} s ({found / backfill_time:.0f} matched msgs/s)"
    )
    k = AlertSettings().spike_k
    hits_true = flagged = truth = 0
    for seed in range(5):
        series, spikes = synthetic_series(seed)
        flags = [flag for flag, _ in spike_thresholds(series, k=k, min_count=10)]
        found_set = {i for i, f in enumerate(flags) if f}
        hits_true += len(found_set & spikes)
        flagged += len(found_set)
        truth += len(spikes)
    print(
        f"(e) spike detection, 5 synthetic weeks, {truth} known spikes, k={k}: "
        f"precision {hits_true / flagged:.3f} recall {hits_true / truth:.3f}"
    )


if __name__ == "__main__":
    main()
