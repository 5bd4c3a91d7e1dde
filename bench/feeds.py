"""Benchmark of the feeds channel: parse throughput and what conditional polling saves.

    .venv/bin/python bench/feeds.py              # 40 feeds x 100 items
    .venv/bin/python bench/feeds.py --feeds 10 --items 50

Prints, all measured in the same run:
  * parse (best of 3 interleaved rounds): entries/s of raw ``feedparser.parse`` (baseline),
    of ``feed_entry_ids`` (what the poller does per fetched feed) and of ``parse_feed`` (the
    flow's parse step), with time ratios to the baseline and p50/p95 per document;
  * poll: one pass of ``FeedSource`` over a local HTTP server (cold: every feed 200), a second
    pass resumed from the snapshot (warm: every feed 304) and a pass after one feed gained one
    entry; bytes served and wall time per pass, and the warm/cold ratios.
Documents are generated deterministically (RSS 2.0, HTML content of ~1 KB per item).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from channels.feeds.parse import feed_entry_ids, parse_feed
from channels.feeds.settings import FeedConfig, FeedSettings
from channels.feeds.source import FeedSource
from hub.models import Envelope

WORDS = [
    "acme",
    "gizmo",
    "sync",
    "broken",
    "refund",
    "love",
    "support",
    "update",
    "release",
    "fast",
    "slow",
    "app",
    "phone",
    "battery",
]


def make_feed(feed: int, items: int, start: int = 0) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Feed {feed}</title><link>https://blog{feed}.example.test/</link><description>d</description>"
    ]
    for i in range(start, start + items):
        words = " ".join(WORDS[(i * 7 + j * 3 + feed) % len(WORDS)] for j in range(120))
        parts.append(
            f"<item><title>Post {i} about {WORDS[i % len(WORDS)]}</title>"
            f"<link>https://blog{feed}.example.test/p/{i}</link><guid>https://blog{feed}.example.test/?p={i}</guid>"
            f"<pubDate>{formatdate(1_700_000_000 + i * 3600, usegmt=True)}</pubDate>"
            f"<content:encoded><![CDATA[<p>{words}</p><p><a href='https://acme.test/'>link</a></p>]]>"
            "</content:encoded></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def timed(fn: Any, docs: list[bytes]) -> tuple[float, list[float], int]:
    per_doc: list[float] = []
    entries = 0
    start = time.perf_counter()
    for doc in docs:
        t = time.perf_counter()
        entries += fn(doc)
        per_doc.append(time.perf_counter() - t)
    return time.perf_counter() - start, per_doc, entries


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def bench_parse(docs: list[bytes]) -> None:
    def raw(doc: bytes) -> int:
        return len(feedparser.parse(io.BytesIO(doc)).entries)

    def ids(doc: bytes) -> int:
        return len(feed_entry_ids(doc))

    def full(doc: bytes) -> int:
        return len(parse_feed(Envelope(channel="feeds", kind="feed", payload=doc)))

    # interleaved rounds, best of each: the machine is shared, so single runs are noisy
    runs: dict[str, list[tuple[float, list[float], int]]] = {"raw": [], "ids": [], "full": []}
    for _ in range(3):
        for name, fn in (("raw", raw), ("ids", ids), ("full", full)):
            runs[name].append(timed(fn, docs))
    best = {name: min(results, key=lambda r: r[0]) for name, results in runs.items()}
    base_s, base_docs, n = best["raw"]
    print(f"parse: {len(docs)} documents, {n} entries (best of 3 interleaved rounds)")
    print(f"  feedparser.parse (baseline): {n / base_s:8.0f} entries/s  p50 {pct(base_docs, 50):.1f} ms/doc")
    for label, key in (("feed_entry_ids (poller)", "ids"), ("parse_feed (flow)", "full")):
        secs, per_doc, count = best[key]
        assert count == n
        print(
            f"  {label}: {count / secs:8.0f} entries/s  p50 {pct(per_doc, 50):.1f} ms/doc  "
            f"p95 {pct(per_doc, 95):.1f} ms/doc  time ratio vs baseline {secs / base_s:.2f}"
        )


class _Server:
    def __init__(self, docs: dict[str, bytes]) -> None:
        self.docs = docs
        self.bytes_sent = 0
        self.statuses: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                body = server.docs[self.path]
                etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                status = 304 if self.headers.get("If-None-Match") == etag else 200
                payload = b"" if status == 304 else body
                server.statuses.append(status)
                server.bytes_sent += len(payload)
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def run_pass(
    feeds: list[FeedConfig], state: dict[str, Any] | None
) -> tuple[float, list[Any], dict[str, Any]]:
    source = FeedSource(feeds, FeedSettings(timeout_s=10, allow_private_addresses=True), once=True)
    part = source.build_part("bench", "feeds", state)
    items: list[Any] = []
    start = time.perf_counter()
    try:
        while True:
            items.extend(part.next_batch())
            time.sleep(0.001)
    except StopIteration:
        pass
    elapsed = time.perf_counter() - start
    snapshot = part.snapshot()
    part.close()
    return elapsed, items, snapshot


def bench_poll(n_feeds: int, n_items: int) -> None:
    server = _Server({f"/f{i}.xml": make_feed(i, n_items) for i in range(n_feeds)})
    feeds = [FeedConfig(url=f"{server.base}/f{i}.xml") for i in range(n_feeds)]
    print(f"poll: {n_feeds} feeds x {n_items} items over local HTTP")
    rows = []
    cold_s, items, state = run_pass(feeds, None)
    rows.append(("cold (all 200)", cold_s, server.bytes_sent, len(items)))
    sent = server.bytes_sent
    warm_s, items, state = run_pass(feeds, state)
    rows.append(("warm (all 304)", warm_s, server.bytes_sent - sent, len(items)))
    sent = server.bytes_sent
    server.docs["/f0.xml"] = make_feed(0, n_items + 1)
    one_s, items, state = run_pass(feeds, state)
    entry_ids = [len(i.payload["entry_ids"]) for i in items if isinstance(i, Envelope)]
    rows.append(("one feed +1 entry", one_s, server.bytes_sent - sent, len(items)))
    for name, secs, sent_bytes, emitted in rows:
        print(
            f"  {name:18s} {secs * 1000:8.1f} ms  {sent_bytes / 1024:9.1f} KiB served  "
            f"{emitted:3d} items emitted"
        )
    print(f"  new entries in the changed feed's envelope: {entry_ids}")
    print(f"  warm/cold: time {warm_s / cold_s:.3f}, bytes {rows[1][2] / max(rows[0][2], 1):.4f}")
    server.httpd.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    bench_parse([make_feed(i, args.items) for i in range(args.feeds)])
    bench_poll(args.feeds, args.items)


if __name__ == "__main__":
    main()
