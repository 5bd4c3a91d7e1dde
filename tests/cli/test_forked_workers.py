"""Flow processes forked from the command (``cli.cluster``): only with no other thread
running, waited for and stopped as started ones are, and never back in the parent's code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from cli.cluster import can_fork


def _run(script: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.splitlines()


def test_a_process_with_one_thread_forks_and_one_with_more_does_not() -> None:
    assert _run("from cli.cluster import can_fork; print(can_fork())") == ["True"]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert can_fork() is False
    finally:
        stop.set()
        other.join()


def test_a_forked_worker_reports_its_exit_code_and_leaves_through_os_exit() -> None:
    lines = _run(
        """
        import atexit, os
        from cli.cluster import _fork_worker

        me = os.getpid()
        atexit.register(lambda: print("exit handler of", "parent" if os.getpid() == me else "child"))
        worker = _fork_worker(["--index", "0"], None)  # no --report: the worker's argparse says so
        print("code", worker.wait(timeout=60), worker.poll(), worker.returncode)
        """
    )
    # argparse's exit status; the child never ran the parent's exit handlers
    assert lines == ["code 2 2 2", "exit handler of parent"]


def test_a_forked_worker_times_out_and_is_stopped_by_sigint() -> None:
    lines = _run(
        """
        import os, subprocess, time
        from cli.cluster import ForkedWorker, stop

        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            try:
                time.sleep(60)
            except KeyboardInterrupt:
                os._exit(130)
            os._exit(0)
        worker = ForkedWorker(pid)
        try:
            worker.wait(timeout=0.3)
        except subprocess.TimeoutExpired:
            print("timed out, running:", worker.poll())
        print("killed:", stop([worker], timeout=30), "code:", worker.returncode)
        """
    )
    assert lines == ["timed out, running: None", "killed: [] code: 130"]
