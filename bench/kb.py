"""Knowledge-base benchmark: bulk indexing rate and query latency at 100,000 messages.

    .venv/bin/python bench/kb.py            # embedded backend, 100,000 messages
    .venv/bin/python bench/kb.py --n 10000  # a smaller run
    PARLEY_ES_URL=http://localhost:9200 .venv/bin/python bench/kb.py   # Elasticsearch too

Prints docs/s for bulk upserts in flow-sized batches, with a baseline measured in the same run
(the same JSON written to a bare SQLite table: the floor any document store pays), and p50/p95
latency of 200 mixed queries (terms, phrases, NEAR, prefixes, fields, facets, histograms).
Goals (issue 4): >= 5,000 docs/s embedded and p95 < 100 ms at 100,000 messages.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.models import Conversation, Enrichment, Entity, Identity, Message
from kb.base import KnowledgeBase, SearchFilters, SearchRequest

_VOCABULARY = (
    "refund order delivery late broken support account password login app crash update price "
    "discount shipping package courier return exchange invoice billing charge card payment "
    "flight delay cancel booking hotel room service staff friendly rude slow fast great terrible "
    "love hate thanks please help issue problem question answer phone email chat wait hours days "
    "week money back customer experience quality product feature bug release version store"
)
WORDS = tuple(_VOCABULARY.split())
#: Message text follows Zipf's law like real text: a few function words are everywhere, the
#: domain words above are common, and a long tail of rarer words fills the rest.
_FUNCTION_WORDS = ("the", "i", "to", "a", "and", "my", "is", "it", "for", "of", "on", "in", "this")
VOCABULARY = (*_FUNCTION_WORDS, *WORDS, *(f"w{i}" for i in range(4000)))
_CUM_WEIGHTS = list(accumulate(1.0 / (rank + 1) for rank in range(len(VOCABULARY))))
CHANNELS = ("twitter", "email", "facebook", "rss", "sms")
LANGS = ("en", "en", "en", "en", "fr", "de", "es")
LABELS = ("negative", "neutral", "positive")
BRANDS = ("Acme", "Globex", "Initech", "Umbrella", "Parley")
START = datetime(2026, 1, 1, tzinfo=UTC)


def generate(n: int, seed: int = 7) -> tuple[list[Message], list[Conversation]]:
    rng = random.Random(seed)
    authors = [
        Identity(channel=CHANNELS[i % 5], native_id=f"a{i}", handle=f"user{i}", display_name=f"User {i}")
        for i in range(2000)
    ]
    messages = []
    conversations: dict[str, Conversation] = {}
    for i in range(n):
        channel = CHANNELS[i % 5]
        conv = f"cnv_{i // 4}"
        words = rng.choices(VOCABULARY, cum_weights=_CUM_WEIGHTS, k=rng.randint(8, 40))
        brand = rng.choice(BRANDS)
        words.insert(rng.randrange(len(words)), brand)
        tags = rng.sample(["fail", "love", "help", "sale"], k=rng.randint(0, 2))
        created = START + timedelta(minutes=i * 2 + rng.randint(0, 60))
        messages.append(
            Message(
                channel=channel,
                native_id=str(i),
                conversation_id=conv,
                author=authors[rng.randrange(len(authors))],
                text=" ".join(words) + "".join(f" #{t}" for t in tags),
                subject=" ".join(rng.choices(VOCABULARY, cum_weights=_CUM_WEIGHTS, k=4))
                if channel == "email"
                else None,
                language=rng.choice(LANGS),
                created_at=created,
                url=f"https://{rng.choice(['news', 'blog'])}.example.com/{i}" if channel == "rss" else None,
                enrichment=Enrichment(
                    language="en",
                    sentiment_label=rng.choice(LABELS),
                    hashtags=tags,
                    entities=[Entity(text=brand, label="ORG")],
                    intent=rng.choice(["complaint", "question", "praise", "other"]),
                ),
            )
        )
        conversations[conv] = Conversation(
            id=conv,
            channel=channel,
            status=rng.choice(["open", "pending", "resolved"]),
            tags=rng.sample(["vip", "press", "billing"], k=rng.randint(0, 1)),
            first_message_at=conversations[conv].first_message_at if conv in conversations else created,
            last_message_at=created,
            message_count=(conversations[conv].message_count + 1) if conv in conversations else 1,
        )
    return messages, list(conversations.values())


def queries(count: int, seed: int = 11) -> list[SearchRequest]:
    rng = random.Random(seed)
    out: list[SearchRequest] = []
    for i in range(count):
        a, b, c = rng.sample(WORDS, 3)
        kind = i % 8
        if kind == 0:
            q = f"{a} {b}"
        elif kind == 1:
            q = f'"{a} {b}"'
        elif kind == 2:
            q = f"{a} NEAR/3 {b}"
        elif kind == 3:
            q = f"{a} NEAR/2f {b} -{c}"
        elif kind == 4:
            q = f"{a[:3]}* channel:{rng.choice(CHANNELS)}"
        elif kind == 5:
            q = f"({a} OR {b}) sentiment:negative -status:resolved"
        elif kind == 6:
            q = f"entity:{rng.choice(BRANDS).lower()} {a}"
        else:
            q = f"hashtag:{rng.choice(['fail', 'love'])} OR {a}"
        facets = ("channel", "language", "sentiment_label") if i % 2 == 0 else ()
        histogram = "day" if i % 4 == 0 else None
        filters = SearchFilters(languages=["en"]) if i % 5 == 0 else SearchFilters()
        out.append(SearchRequest(query=q, facets=facets, histogram=histogram, filters=filters))
    return out


def baseline_docs_per_s(messages: list[Message], path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, doc TEXT)")
    start = time.perf_counter()
    for i in range(0, len(messages), 1000):
        batch = messages[i : i + 1000]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO docs VALUES (?, ?)", [(m.id, m.model_dump_json()) for m in batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(messages) / elapsed


def run(name: str, kb: KnowledgeBase, messages: list[Message], conversations: list[Conversation]) -> float:
    """Index everything, then time queries; returns the indexing rate in docs/s."""
    start = time.perf_counter()
    for i in range(0, len(conversations), 1000):
        kb.upsert_conversations(conversations[i : i + 1000])
    for i in range(0, len(messages), 1000):
        kb.upsert_messages(messages[i : i + 1000])
    refresh = getattr(kb, "refresh", None)
    if callable(refresh):
        refresh()
    elapsed = time.perf_counter() - start
    print(f"{name}: indexed {len(messages)} messages + {len(conversations)} conversations in {elapsed:.1f} s")
    rate = len(messages) / elapsed
    print(f"{name}: bulk indexing {rate:,.0f} docs/s (messages; conversation upserts included in the time)")
    again = time.perf_counter()
    kb.upsert_messages(messages[:5000])
    print(f"{name}: re-upsert of 5,000 unchanged messages {5000 / (time.perf_counter() - again):,.0f} docs/s")

    latencies: list[float] = []
    hits = 0
    for request in queries(200):
        t0 = time.perf_counter()
        result = kb.search_messages(request)
        latencies.append((time.perf_counter() - t0) * 1000)
        hits += result.total
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"{name}: 200 mixed queries p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"{name}: (mean total hits per query {hits / 200:,.0f})")
    t0 = time.perf_counter()
    for _ in range(20):
        kb.search_conversations(SearchRequest(limit=25))
    print(f"{name}: inbox listing (25 newest conversations) {(time.perf_counter() - t0) / 20 * 1000:.1f} ms")
    conv_latencies = []
    for request in queries(40, seed=5):
        t0 = time.perf_counter()
        kb.search_conversations(SearchRequest(query=request.query, limit=25, facets=("status",)))
        conv_latencies.append((time.perf_counter() - t0) * 1000)
    conv_latencies.sort()
    print(
        f"{name}: 40 inbox searches (conversations with matching messages) p50"
        f" {statistics.median(conv_latencies):.1f} ms, p95 {conv_latencies[int(40 * 0.95) - 1]:.1f} ms"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="messages to generate (default 100,000)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    messages, conversations = generate(args.n)
    took = time.perf_counter() - t0
    print(f"generated {len(messages)} messages, {len(conversations)} conversations in {took:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_docs_per_s(messages, Path(tmp) / "baseline.sqlite3")
        print(f"baseline: JSON into a bare SQLite table {base:,.0f} docs/s")
        from kb.sqlite import SQLiteKB

        kb = SQLiteKB(Path(tmp) / "kb.sqlite3")
        rate = run("sqlite", kb, messages, conversations)
        print(f"sqlite: indexing rate is {rate / base:.2f}x the bare-table baseline")
        kb.close()
    if os.environ.get("PARLEY_ES_URL"):
        from hub.settings import Settings
        from kb.elasticsearch import ElasticsearchKB

        settings = Settings(demo=False)
        settings.es.index_prefix = f"parley-bench-{uuid.uuid4().hex[:8]}"
        es = ElasticsearchKB.from_settings(settings)
        try:
            run("elasticsearch", es, messages, conversations)
        finally:
            es.drop()
            es.close()


if __name__ == "__main__":
    main()
