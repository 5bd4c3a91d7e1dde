"""End-to-end ingest throughput: the whole dataflow against its costliest step alone.

Generates N envelopes (threads of social messages across channels and accounts), then in
the same run measures:

  (a) enrich() alone over the parsed messages (the baseline: the flow's CPU-bound step)
  (b) the whole dataflow in-process: import → parse → dedupe → enrich → thread → KB + CRM
  (c) the same file replayed (everything already stored: dedupe and idempotent sinks)

and prints messages per second and the ratios b/a and c/a. With ``--processes`` it also runs
the flow as 1 and as 2 ``python -m bytewax.run`` processes on fresh stores (model loading
included on both sides) and prints the speed-up. Run: python bench/ingest.py --n 5000 --processes

With ``--tweets N`` it measures instead, on N real tweets from ``../shared/corpora`` (TweetEval
dev, then the SemEval training set, in file order; one ``parley.message`` line each, with the
``language`` the X API gives every tweet), in paired runs, each a fresh process with its model
loads included: (r) raw spaCy ``nlp.pipe`` with only the NER pipe over the texts (stock spaCy:
the baseline), (n) the same with spaCy's matrix products on numpy's BLAS in one thread, as
Parley runs them, and (p) one ``parley ingest`` process over the file into a fresh data
directory, with wall time, CPU time (the command's whole process tree), peak RSS (``wait4``)
and the ratios p/r and p/n (throughput, memory and CPU); ``--repeat K`` runs K rounds and
prints the medians. ``--tweets N --processes`` compares ``parley ingest --processes 1`` and
``--processes 2`` the same way (start-up included), and, in each round, how much faster two
raw NER processes (numpy's BLAS) side by side finish than one alone (run before and after the
pair): the most two processes can gain on this machine, start-up aside; and the speed-up over
that ceiling, round by round. Run:
``python bench/ingest.py --tweets 12000 --repeat 3`` and
``python bench/ingest.py --tweets 20000 --processes``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import socket
import statistics
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
    source = FileImportSource([path], batch_size=settings.flow.batch_size)
    run_main(build_flow(settings, [("import", source)], report=report))
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


CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "text"
TWEET_FILES = [CORPORA / "tweeteval" / "sentiment_dev.tsv", CORPORA / "semeval_twitter" / "train.tsv"]

#: raw spaCy NER-only over the texts of a JSONL file, model load included (the baseline)
RAW_NER = """
import json, sys, spacy
from enrichment.entities import UNUSED_PIPES
from hub.settings import EnrichmentSettings
nlp = spacy.load(EnrichmentSettings().spacy_model, exclude=UNUSED_PIPES)
texts = [json.loads(line)["payload"]["text"] for line in open(sys.argv[1], encoding="utf-8")]
n = sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=256))
print(n, file=sys.stderr)
"""

#: the same on numpy's BLAS, one thread, as Parley runs spaCy (``enrichment.use_blis`` false)
RAW_NER_NUMPY_BLAS = RAW_NER.replace(
    "nlp = spacy.load(EnrichmentSettings().spacy_model, exclude=UNUSED_PIPES)",
    """import numpy
from thinc.api import use_ops
from threadpoolctl import threadpool_limits
threadpool_limits(1, user_api="blas")
with use_ops("numpy", use_blis=False):
    nlp = spacy.load(EnrichmentSettings().spacy_model, exclude=UNUSED_PIPES)""",
)

#: the same with the NER's transition loop holding the GIL, as Parley runs it
#: (``enrichment.parser_loop``): Parley's own NER, without the rest of its work
RAW_NER_GIL_HELD = RAW_NER_NUMPY_BLAS.replace(
    "n = sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=256))",
    "from enrichment.parser_loop import pipe_holding_gil\n"
    "n = sum(len(doc.ents) for doc in pipe_holding_gil(nlp, texts, 256))",
)


def real_tweets(path: Path, n: int) -> int:
    """Write up to ``n`` real tweets from the corpora to ``path`` as parley.message lines."""
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for source in TWEET_FILES:
            if not source.is_file():
                raise SystemExit(f"{source} not found: --tweets needs ../shared/corpora")
            with source.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                    if written >= n:
                        return written
                    payload = {
                        "native_id": str(written),
                        "text": row["text"],
                        "language": "en",
                        "created_at": f"2016-{1 + written % 12:02d}-{1 + written % 28:02d}T12:00:00Z",
                        "author": {"native_id": f"u{written % 5000}", "handle": f"u{written % 5000}"},
                    }
                    envelope = {"channel": "twitter", "kind": "parley.message", "account": "brand"}
                    out.write(json.dumps({**envelope, "payload": payload}) + "\n")
                    written += 1
    return written


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds of ``command`` run to its end. The peak is
    the command's own process's (``wait4`` reports the child's own); the CPU is its whole
    tree's (every process its parent waited for: the flow processes, the migration)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if status != 0:
        raise SystemExit(
            f"{command[:4]} failed: {child.stderr.read().decode()[-2000:] if child.stderr else ''}"
        )
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, usage.ru_maxrss / 1024, cpu


def side_by_side(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of two copies of ``command`` started together, until both have ended."""
    started = time.perf_counter()
    children = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    codes = [child.wait() for child in children]
    if any(codes):
        raise SystemExit(f"{command[:4]} failed side by side (exit {codes})")
    return time.perf_counter() - started


#: tweets each copy of raw NER reads when measuring two processes' ceiling
CEILING_TWEETS = 5000


def parley_ingest(source: Path, data: Path, processes: int) -> list[str]:
    return [sys.executable, "-m", "cli", "ingest", "--processes", str(processes), str(source)]


def bench_tweets(n: int, repeat: int, compare_processes: bool) -> None:
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "tweets.jsonl"
        n = real_tweets(source, n)

        def env(data: str) -> dict[str, str]:
            return {
                **os.environ,
                "PYTHONPATH": root,
                "PARLEY_DATA_DIR": str(Path(tmp) / data),
                "PARLEY_DEMO": "false",
                "PARLEY_LOG_LEVEL": "ERROR",
            }

        rows: dict[str, list[tuple[float, float, float]]] = {}
        # Two processes cannot beat what two copies of the same work reach side by side: on
        # session 13's 2-core VM two copies of anything ran 4-15% slower each than one alone.
        ceiling: list[float] = []
        sample = Path(tmp) / "sample.jsonl"
        raw_sample = [sys.executable, "-c", RAW_NER_NUMPY_BLAS, str(sample)]
        if compare_processes:
            with source.open(encoding="utf-8") as full, sample.open("w", encoding="utf-8") as out:
                out.writelines(line for _, line in zip(range(CEILING_TWEETS), full, strict=False))
        for run in range(repeat):
            if compare_processes:  # one alone before and after the pair: the machine drifts
                before = timed(raw_sample, env("ceiling"))[0]
                pair = side_by_side(raw_sample, env("ceiling"))
                after = timed(raw_sample, env("ceiling"))[0]
                ceiling.append((before + after) / pair)
                commands = {
                    "1 process": parley_ingest(source, Path(tmp), 1),
                    "2 processes": parley_ingest(source, Path(tmp), 2),
                }
            else:
                commands = {
                    "raw NER nlp.pipe": [sys.executable, "-c", RAW_NER, str(source)],
                    "raw NER numpy BLAS": [sys.executable, "-c", RAW_NER_NUMPY_BLAS, str(source)],
                    "raw NER GIL held": [sys.executable, "-c", RAW_NER_GIL_HELD, str(source)],
                    "parley ingest": parley_ingest(source, Path(tmp), 1),
                }
            for name, command in commands.items():
                rows.setdefault(name, []).append(timed(command, env(f"{name}-{run}")))
    load = os.getloadavg()
    loads = " ".join(f"{x:.2f}" for x in load)
    print(f"real tweets: {n}  runs: {repeat}  load average at the end: {loads}")
    for name, results in rows.items():
        wall = statistics.median(r[0] for r in results)
        rss = statistics.median(r[1] for r in results)
        walls = ", ".join(f"{r[0]:.1f}" for r in results)
        cpu = statistics.median(r[2] for r in results)
        print(
            f"  {name:18s} {n / wall:8.1f} msgs/s  wall {wall:6.1f} s ({walls})  CPU {cpu:6.1f} s"
            f"  peak RSS {rss:6.0f} MiB"
        )
    names = list(rows)
    name, other = names[-1], rows[names[-1]]
    for base_name in names[:-1]:
        base = rows[base_name]
        ratios = [b[0] / o[0] for b, o in zip(base, other, strict=True)]
        memory = [o[1] / b[1] for b, o in zip(base, other, strict=True)]
        label = "speed-up 2/1" if compare_processes else f"throughput parley/{base_name}"
        print(f"{label} = {statistics.median(ratios):.2f} (paired: {', '.join(f'{r:.2f}' for r in ratios)})")
        print(f"peak memory {name}/{base_name} = {statistics.median(memory):.2f}")
        cpu_ratios = [o[2] / b[2] for b, o in zip(base, other, strict=True)]
        paired = ", ".join(f"{r:.2f}" for r in cpu_ratios)
        print(f"CPU {name}/{base_name} = {statistics.median(cpu_ratios):.2f} (paired: {paired})")
    if ceiling:
        rounds = ", ".join(f"{r:.2f}" for r in ceiling)
        print(
            f"ceiling: two raw NER processes (numpy's BLAS, {min(n, CEILING_TWEETS)} tweets each)"
            f" side by side = {statistics.median(ceiling):.2f}x one alone (paired: {rounds})"
        )
        # the share of what the machine allowed that Parley reached, round by round: a figure
        # that can be compared across machines, where the speed-up alone cannot
        one, two = rows["1 process"], rows["2 processes"]
        reached = [o[0] / t[0] / c for o, t, c in zip(one, two, ceiling, strict=True)]
        shown = ", ".join(f"{r:.2f}" for r in reached)
        print(f"speed-up / ceiling = {statistics.median(reached):.2f} (paired: {shown})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="messages to generate")
    parser.add_argument("--no-ner", action="store_true", help="disable spaCy NER in enrichment")
    parser.add_argument("--processes", action="store_true", help="also compare 1 and 2 flow processes")
    parser.add_argument("--tweets", type=int, default=0, help="real tweets from the corpora (see above)")
    parser.add_argument("--repeat", type=int, default=1, help="paired runs with --tweets (medians)")
    args = parser.parse_args()
    if args.tweets:
        bench_tweets(args.tweets, args.repeat, args.processes)
        return

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
