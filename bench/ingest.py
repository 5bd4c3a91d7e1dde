"""End-to-end ingest throughput: the whole dataflow against its costliest step alone.

Generates N envelopes (threads of social messages across channels and accounts), then in
the same run measures:

  (a) enrich() alone over the parsed messages (the baseline: the flow's CPU-bound step)
  (b) the whole dataflow in-process: import → parse → dedupe → enrich → thread → KB + CRM
  (c) the same file replayed (everything already stored: dedupe and idempotent sinks)

and prints messages per second and the ratios b/a and c/a. With ``--processes`` it also runs
the flow as 1 and as 2 ``python -m bytewax.run`` processes on fresh stores (model loading
included on both sides) and prints the speed-up. Run: python bench/ingest.py --n 5000 --processes
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/kb.py and bench/crm.py would shadow the packages of the same name: the repo root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bytewax.testing import run_main

from channels import parse_envelope
from enrichment import enrich
from flows.imports import FileImportSource, iter_records
from flows.ingest import build_flow
from flows.report import IngestReport
from hub.models import Envelope
from hub.settings import Settings

OPENERS = [
    "my {p} stopped working after {d} days, really disappointed #fail",
    "where can I buy the {p} in {c}? how much is it",
    "love the new {p} from @parleycoffee, best coffee in {c} ☕",
    "is there a discount code for the {p}? $PRLY",
    "the {p} arrived broken, I want a refund",
    "anyone tried the {p}? thinking of getting one for the office",
]
REPLIES = [
    "@{u} sorry to hear that, can you DM us your order number?",
    "thanks, sent it over",
    "still waiting for an answer on this...",
    "great, that fixed it, thank you!",
]
PRODUCTS = ["Tidepool kettle", "Harbour grinder", "Drift beans", "Lantern mug"]
CITIES = ["Leeds", "Berlin", "Lyon", "Austin", "Madrid", "Porto", "Osaka", "Denver", "Cork", "Turin"]
NAMES = ["Priya", "Tom", "Ana", "Kenji", "Fatima", "Lars", "Chloe", "Diego", "Ngozi", "Sam"]


def generate(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    written = 0
    thread = 0
    with path.open("w") as fh:
        while written < n:
            channel = rng.choice(["twitter", "facebook", "sms"])
            account = rng.choice(["brand", "support"])
            user = f"u{rng.randrange(2000)}"
            size = min(rng.randint(1, 5), n - written)
            for i in range(size):
                text = (
                    rng.choice(OPENERS).format(
                        p=rng.choice(PRODUCTS), d=rng.randint(2, 9), c=rng.choice(CITIES)
                    )
                    if i == 0
                    else rng.choice(REPLIES).format(u=user)
                )
                # every text unique, as in a real stream once retweets are set aside
                text += f" (order {rng.randrange(10**6)}, {rng.choice(NAMES)} in {rng.choice(CITIES)})"
                payload = {
                    "native_id": f"{thread}-{i}",
                    "text": text,
                    "created_at": f"2026-11-{1 + thread % 28:02d}T{10 + i:02d}:00:00Z",
                    "author": {"native_id": user if i % 2 == 0 else account, "handle": user},
                }
                if i:
                    payload["in_reply_to"] = f"{thread}-{i - 1}"
                envelope = {
                    "channel": channel,
                    "kind": "parley.message",
                    "account": account,
                    "payload": payload,
                }
                fh.write(json.dumps(envelope) + "\n")
            written += size
            thread += 1


def run_flow(settings: Settings, path: Path) -> tuple[float, IngestReport]:
    report = IngestReport()
    started = time.perf_counter()
    run_main(build_flow(settings, [("import", FileImportSource([path]))], report=report))
    return time.perf_counter() - started, report


def run_processes(source: Path, data: Path, count: int, ner: bool) -> float:
    """Wall time of the flow as ``count`` bytewax.run processes over ``source``."""
    ports = []
    for _ in range(count):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    addresses = ";".join(f"127.0.0.1:{port}" for port in ports)
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_IMPORT_PATHS": json.dumps([str(source)]),
        "PARLEY_ENRICHMENT__NER": str(ner).lower(),
        "PARLEY_ENRICHMENT__CACHE_SIZE": "0",
        "PARLEY_LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "-m", "bytewax.run", "flows.ingest:get_flow()", "-a", addresses]
    started = time.perf_counter()
    workers = [subprocess.Popen([*command, "-i", str(i)], env=env) for i in range(count)]
    for worker in workers:
        if worker.wait() != 0:
            raise SystemExit(f"a flow process failed (exit {worker.returncode})")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="messages to generate")
    parser.add_argument("--no-ner", action="store_true", help="disable spaCy NER in enrichment")
    parser.add_argument("--processes", action="store_true", help="also compare 1 and 2 flow processes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "bench.jsonl"
        generate(source, args.n)
        settings = Settings(data_dir=Path(tmp) / "data", demo=False)
        settings.enrichment.ner = not args.no_ner
        # no enrichment cache in either measurement: both pay for every message's NLP
        settings.enrichment.cache_size = 0

        messages = [m for r in iter_records(source) if isinstance(r, Envelope) for m in parse_envelope(r)]
        enrich(messages[:50], settings.enrichment, settings.brand)  # load models outside the timings
        started = time.perf_counter()
        enrich(messages, settings.enrichment, settings.brand)
        baseline = time.perf_counter() - started

        flow_time, report = run_flow(settings, source)
        replay_time, replay = run_flow(settings, source)
        if args.processes:
            one = run_processes(source, Path(tmp) / "one", 1, not args.no_ner)
            two = run_processes(source, Path(tmp) / "two", 2, not args.no_ner)

    n = len(messages)
    print(f"messages: {n}  (NER {'off' if args.no_ner else 'on'})")
    print(f"(a) enrich() alone              {n / baseline:9.1f} msgs/s")
    print(f"(b) whole dataflow, fresh store {n / flow_time:9.1f} msgs/s  created {report.created}")
    print(f"(c) whole dataflow, replay      {n / replay_time:9.1f} msgs/s  duplicates {replay.duplicates}")
    print(f"ratio b/a = {baseline / flow_time:.2f}   ratio c/a = {baseline / replay_time:.2f}")
    if args.processes:
        print(f"(d) 1 bytewax.run process        {n / one:9.1f} msgs/s  (wall, incl. start-up)")
        print(f"(e) 2 bytewax.run processes      {n / two:9.1f} msgs/s  (wall, incl. start-up)")
        print(f"speed-up e/d = {one / two:.2f}")


if __name__ == "__main__":
    main()
