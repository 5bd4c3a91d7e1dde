"""Throughput of the email channel's rfc822 parser over the corpus (prints figures, asserts nothing).

Baseline, measured in the same run: the stdlib alone (``BytesParser(policy.default)`` plus
``get_body().get_content()``), i.e. what parsing costs before Parley's work (charset fallbacks,
HTML to text, quote stripping, classification, threading headers, the pydantic Message).

    .venv/bin/python bench/email_parse.py [--rounds 5] [--corpus ../shared/corpora/email]
"""

from __future__ import annotations

import argparse
import mailbox
import statistics
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from channels.email.parse import parse_rfc822
from hub.errors import MalformedPayload
from hub.models import Envelope


def load(root: Path) -> list[bytes]:
    raws: list[bytes] = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".mbox":
            box = mailbox.mbox(path, create=False)
            raws.extend(box.get_bytes(key) for key in box.keys())  # noqa: SIM118 (iterating yields messages)
        elif path.suffix in (".eml", ".msg"):
            raws.append(path.read_bytes())
    return raws


def stdlib_only(raw: bytes) -> None:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    try:
        body = msg.get_body(("plain", "html"))
        if body is not None:
            body.get_content()
    except Exception:
        pass


def parley(raw: bytes) -> None:
    with contextlib.suppress(MalformedPayload):
        parse_rfc822(Envelope(channel="email", kind="rfc822", payload=raw))


def measure(fn: object, raws: list[bytes], rounds: int) -> tuple[float, float, float]:
    timings: list[float] = []
    start = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            t0 = time.perf_counter()
            fn(raw)  # type: ignore[operator]
            timings.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    timings.sort()
    p50 = statistics.median(timings) * 1000
    p95 = timings[int(len(timings) * 0.95)] * 1000
    return len(timings) / total, p50, p95


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "email",
    )
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    import logging

    logging.disable(logging.WARNING)  # MIME-defect warnings would dominate the timing
    raws = load(args.corpus)
    size = sum(len(r) for r in raws) / 1024 / 1024
    print(f"corpus: {len(raws)} messages, {size:.1f} MiB, {args.rounds} rounds")
    base_rate, base_p50, base_p95 = measure(stdlib_only, raws, args.rounds)
    rate, p50, p95 = measure(parley, raws, args.rounds)
    print(f"stdlib parse only : {base_rate:8.0f} msgs/s  p50 {base_p50:6.2f} ms  p95 {base_p95:6.2f} ms")
    print(f"parse_rfc822      : {rate:8.0f} msgs/s  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    print(f"ratio parse_rfc822 / stdlib throughput: {rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
