"""`parley run` with a live channel stops everything on SIGTERM, as it does on Ctrl-C.

The live source is a feed on a local HTTP server; the test waits until the flow process has
fetched it (so the flow is really running), signals the `parley` process and checks that the
flow process is gone too. Waits are bounded hang guards, not timing assertions.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_ports

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>live</title></channel></rss>"
STARTUP_GUARD_S = 180.0  # loading the flow (spaCy models) on two shared cores
STOP_GUARD_S = 15.0  # "within seconds": the flow gets SIGINT, then SIGKILL after 15 s


@pytest.fixture
def feed_hits() -> Iterator[tuple[str, list[str]]]:
    """A local feed's URL and the paths requested from it so far."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(RSS)))
            self.end_headers()
            self.wfile.write(RSS)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/live.xml", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped has stopped running)."""
    if Path("/proc").is_dir():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(condition: Callable[[], bool], guard_s: float, what: str) -> None:
    deadline = time.monotonic() + guard_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_live_run(
    tmp_path: Path, feed_url: str, hits: list[str], args: list[str]
) -> tuple[subprocess.Popen[bytes], list[int], Path]:
    """`parley run ARGS` with one live feed, once the flow has fetched it: (process, flow pids,
    log); two flow processes."""
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(tmp_path / "data"),
        "PARLEY_DEMO": "false",
        "PARLEY_LOG_LEVEL": "WARNING",
        "PARLEY_FLOW__PROCESSES": "2",  # a cluster, whatever this machine's cores
        "PARLEY_FEEDS__FEEDS": json.dumps([{"url": feed_url}]),
        "PARLEY_FEEDS__ALLOW_PRIVATE_ADDRESSES": "true",
    }
    log = tmp_path / "run.log"
    with log.open("wb") as out:  # a file, not a pipe: nobody has to drain it
        parley = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", *args], env=env, stdout=out, stderr=out
        )
    found: list[int] = []

    def flow_started() -> bool:
        assert parley.poll() is None, log.read_text(errors="replace")[-3000:]
        match = re.search(
            r"ingest flow running \((?:\d+ processes, )?pids? ([\d, ]+)\)", log.read_text(errors="replace")
        )
        found.extend([int(pid) for pid in match.group(1).split(", ")] if match and not found else [])
        return bool(found) and bool(hits)

    try:
        _wait_for(flow_started, STARTUP_GUARD_S, "the flow process fetching the feed")
    except BaseException:
        parley.kill()
        raise
    return parley, found, log


def _stop_check(parley: subprocess.Popen[bytes], flow_pids: list[int], log: Path, how: signal.Signals) -> int:
    """Send ``how`` to `parley`; its exit status once both it and every flow process are gone."""
    try:
        parley.send_signal(how)
        status = parley.wait(timeout=STOP_GUARD_S + 15)
        for flow_pid in flow_pids:
            _wait_for(lambda p=flow_pid: not _running(p), STOP_GUARD_S, f"flow process {flow_pid} to stop")
    finally:
        for pid in (parley.pid, *flow_pids):
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
    assert not any(_running(pid) for pid in flow_pids), log.read_text(errors="replace")[-3000:]
    return status


@pytest.mark.slow
@pytest.mark.parametrize("serve", [False, True], ids=["no-serve", "serve"])
def test_sigterm_stops_the_flow_process_too(
    serve: bool, tmp_path: Path, feed_hits: tuple[str, list[str]]
) -> None:
    port = free_ports(1)[0]
    args = ["--host", "127.0.0.1", "--port", str(port)] if serve else ["--no-serve"]
    parley, flow_pids, log = _start_live_run(tmp_path, *feed_hits, args)
    if serve:  # uvicorn is serving, so it is uvicorn that takes the SIGTERM first
        _wait_for(lambda: _port_open(port), STARTUP_GUARD_S, "the API to listen")
    status = _stop_check(parley, flow_pids, log, signal.SIGTERM)
    output = log.read_text(errors="replace")
    assert status == 128 + signal.SIGTERM, output[-3000:]
    # every flow process stopped on its SIGINT: none had to be killed (the processes of a
    # cluster stop together; one signalled alone waited for the other until it was killed)
    assert len(flow_pids) == 2 and "were killed" not in output, output[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_the_flow_process_does_not_outlive_a_killed_parent(
    tmp_path: Path, feed_hits: tuple[str, list[str]]
) -> None:
    parley, flow_pids, log = _start_live_run(tmp_path, *feed_hits, ["--no-serve"])
    assert _stop_check(parley, flow_pids, log, signal.SIGKILL) == -signal.SIGKILL
