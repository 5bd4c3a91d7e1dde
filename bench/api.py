"""API benchmark: requests/s and p50/p95 latency per route under concurrent clients.

    .venv/bin/python bench/api.py                      # 20,000 messages, 8 clients
    .venv/bin/python bench/api.py --n 100000 --clients 8 --seconds 10

Builds an embedded knowledge base of ``--n`` generated messages (``bench/kb.py``'s Zipf text,
with ``coffee`` in every message and ``machine`` in every other one: the broad matches issue 16
names), serves it with ``parley serve`` in a child process, and runs ``--clients`` threads
against each route for ``--seconds``. Prints requests/s, p50 and p95 per route, the ratio of
each route's requests/s to the plain inbox page measured in the same run, the server's CPU time
per request (user + system of the ``parley serve`` process, from ``/proc``: less sensitive to
other work on the machine than latencies, though not immune), and the load average
(``uptime``): the machine is shared, so compare ratios, not absolute figures.
Goal (issue 16): p95 < 100 ms for the broad queries at 100,000 messages with 8 clients.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.kb import generate
from crm import open_crm
from hub.settings import Settings
from kb.sqlite import SQLiteKB

#: the inbox page first: every other route's requests/s is given as a ratio to it
ROUTES = (
    ("inbox", "/conversations"),
    ("conversations q=coffee", "/conversations?q=coffee"),
    ("conversations q=coffee relevance", "/conversations?q=coffee&sort=relevance"),
    ("search q=machine", "/search?q=machine"),
    ("search q=coffee newest", "/search?q=coffee&sort=newest"),
    ("search q=machine facets", "/search?q=machine&facets=channel,language"),
    ("search q=refund (narrower)", "/search?q=refund"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(data_dir: Path, n: int) -> str:
    """Fill ``data_dir``'s knowledge base with ``n`` messages; returns an admin API token."""
    crm = open_crm(Settings(data_dir=data_dir))
    agent = crm.agents.by_email("bench@parley.test")
    if agent is not None and (data_dir / "kb.sqlite3").is_file():  # --data-dir kept from a run
        token = crm.credentials.create_token(agent.id, name="bench", ttl=timedelta(days=1)).token
        crm.close()
        print(f"reusing the knowledge base in {data_dir}", flush=True)
        return str(token)
    crm.close()
    messages, conversations = generate(n)
    broad = []
    for i, message in enumerate(messages):
        extra = " coffee machine" if i % 2 == 0 else " coffee"
        broad.append(message.model_copy(update={"text": message.text + extra}))
    kb = SQLiteKB(data_dir / "kb.sqlite3")
    started = time.perf_counter()
    for at in range(0, len(broad), 2000):
        kb.upsert_messages(broad[at : at + 2000])
    kb.upsert_conversations(conversations)
    kb.close()
    print(f"indexed {n:,} messages in {time.perf_counter() - started:.1f} s", flush=True)
    crm = open_crm(Settings(data_dir=data_dir))
    agent = crm.agents.create(name="Bench", email="bench@parley.test", role="admin")
    token = crm.credentials.create_token(agent.id, name="bench", ttl=timedelta(days=1)).token
    crm.close()
    return str(token)


def _wait_until_up(base: str, token: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("parley serve exited before answering; run it by hand to see why")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("parley serve did not answer within 120 s")


def hammer(base: str, path: str, token: str, clients: int, seconds: float) -> tuple[float, list[float], int]:
    """(requests/s, latencies in ms, errors) of ``clients`` threads calling ``path`` for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            while time.monotonic() < stop:
                start = time.perf_counter()
                response = http.get(path)
                mine.append((time.perf_counter() - start) * 1000)
                bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - began), latencies, errors[0]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="messages to index")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per route")
    parser.add_argument("--data-dir", type=Path, help="reuse (or keep) this data directory")
    parser.add_argument(
        "--no-search-cache",
        action="store_true",
        help="serve with the KB search cache off: each request computes its answer (queries repeat)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="parley-bench-api-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        token = build(data_dir, args.n)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        root = Path(__file__).resolve().parents[1]
        env = {
            **os.environ,
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(root),  # this checkout's code, whichever one is installed
            **({"PARLEY_KB__SQLITE_SEARCH_CACHE_ENTRIES": "0"} if args.no_search_cache else {}),
        }
        process = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", "serve", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_up(base, token, process)
            for _, path in ROUTES:  # warm the page cache and the query plans once
                httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
            load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
            cache = "search cache off" if args.no_search_cache else "search cache on"
            print(f"{args.n:,} messages, {args.clients} clients, {args.seconds:g} s a route, {cache}; {load}")
            print(
                f"{'route':36} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'vs inbox':>9} {'errors':>7}"
                f" {'CPU ms/req':>11}"
            )
            inbox_rps = None
            for name, path in ROUTES:
                cpu_before = _cpu_seconds(process.pid)
                rps, latencies, errors = hammer(base, path, token, args.clients, args.seconds)
                cpu_after = _cpu_seconds(process.pid)
                cpu = "-"
                if cpu_before is not None and cpu_after is not None and latencies:
                    cpu = f"{(cpu_after - cpu_before) * 1000 / len(latencies):.2f}"
                inbox_rps = inbox_rps or rps
                print(
                    f"{name:36} {rps:8.1f} {_p(latencies, 50):8.1f} {_p(latencies, 95):8.1f}"
                    f" {rps / inbox_rps:8.2f}x {errors:7d} {cpu:>11}",
                    flush=True,
                )
            load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
            print(f"after: {load}")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
