"""Benchmark of outbound webhooks: deliveries per second to a local receiver.

    .venv/bin/python bench/webhooks.py                    # 2000 events, SQLite, 1 and 4 deliverers
    .venv/bin/python bench/webhooks.py --events 500 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Prints, all measured in the same run, for 1 and 4 concurrent deliverers (``--concurrency``):
  * baseline: signed POSTs/s of a bare httpx client to the receiver, that many threads at once
    (what the network and the receiver allow);
  * deliverer: deliveries/s of ``WebhookDeliverer`` (queue from the event log, claim, sign,
    POST, record), the whole run and the send phase alone, and its ratio to the baseline;
  * the queue phase alone: events queued per second.
Each run has a fresh CRM database (a temporary SQLite file, or a fresh PostgreSQL schema) with
one subscription and ``--events`` events in the log. The receiver is a threaded HTTP/1.1
server in this process that answers 204 (it shares the machine's cores with the deliverer).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from crm import open_crm
from crm.engine import normalise_url
from crm.events import NewEvent
from hub.settings import OutboundWebhookSettings, Settings
from outbound.signing import headers
from outbound.webhooks import WebhookDeliverer


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def hit(self) -> None:
        with self.lock:
            self.n += 1


@contextmanager
def receiver() -> Iterator[tuple[str, Counter]]:
    counter = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            counter.hit()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", counter
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def database(base_url: str | None) -> Iterator[Settings]:
    """Settings over a fresh CRM database: a temporary SQLite file or a fresh PG schema."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), demo=False)
        if base_url is None:
            yield settings
            return
        schema = f"bench_webhooks_{uuid.uuid4().hex[:10]}"
        admin = create_engine(normalise_url(base_url))
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(normalise_url(base_url)).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield settings.model_copy(update={"database_url": url.render_as_string(hide_password=False)})
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def baseline(url: str, requests: int, threads: int) -> float:
    """Signed POSTs per second from a bare httpx client, ``threads`` at once."""
    secret = "whsec_" + "a" * 43 + "="
    body = b'{"type":"message.created","timestamp":"2026-01-01T00:00:00Z","data":{"event_id":1}}'
    with httpx.Client(timeout=10.0, limits=httpx.Limits(max_connections=threads * 2)) as client:

        def post(i: int) -> None:
            signed = headers(secret, f"evt_{i}", int(time.time()), body)
            client.post(url, content=body, headers={**signed, "content-type": "application/json"})

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, range(requests)))
        return requests / (time.perf_counter() - started)


def run(url: str, counter: Counter, events: int, concurrency: int, base_url: str | None) -> dict[str, float]:
    with database(base_url) as settings:
        store = open_crm(settings)
        try:
            store.outbound_webhooks.create(url=url, event_types=None, start_after=0)
            batch = [
                NewEvent(type="message.created", conversation_id=f"c-{i}", data={"n": i})
                for i in range(events)
            ]
            for start in range(0, events, 500):
                store.events.append_many(batch[start : start + 500])
            config = OutboundWebhookSettings(allow_private_addresses=True, concurrency=concurrency)
            before = counter.n
            with WebhookDeliverer(store, config) as deliverer:
                started = time.perf_counter()
                deliverer.queue()
                queued_at = time.perf_counter()
                deliverer.send_due()
                finished = time.perf_counter()
            delivered = store.outbound_webhooks.count("delivered")
            if delivered != events or counter.n - before != events:
                raise SystemExit(
                    f"expected {events} deliveries, got {delivered} ({counter.n - before} received)"
                )
            return {
                "total": events / (finished - started),
                "send": events / (finished - queued_at),
                "queue": events / (queued_at - started),
            }
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--database-url", default=None, help="PostgreSQL base URL (default: SQLite)")
    args = parser.parse_args()
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"outbound webhooks: {args.events} events, one subscription, CRM on {backend}, local receiver")
    with receiver() as (url, counter):
        baseline(url, 200, 1)  # warm-up
        for concurrency in args.concurrency:
            base = baseline(url, args.events, concurrency)
            figures = run(url, counter, args.events, concurrency, args.database_url)
            print(
                f"  {concurrency} deliverer(s): {figures['total']:8.0f} deliveries/s "
                f"(send phase {figures['send']:.0f}/s; queue phase {figures['queue']:.0f} events/s) | "
                f"baseline bare POSTs {base:.0f}/s | deliverer/baseline {figures['send'] / base:.2f}"
            )


if __name__ == "__main__":
    main()
