"""Window counts equal a brute-force count of the same messages, whatever the arrival order,
replays, late messages (the correction path) or a crash and a Bytewax recovery run."""

from __future__ import annotations

import random
import tempfile
from datetime import timedelta
from pathlib import Path

from bytewax.recovery import init_db_dir
from bytewax.testing import TestingSource
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from crm import open_crm
from crm.monitor_windows import window_start_of
from hub.models import utcnow
from hub.settings import MonitorSettings, Settings
from tests.monitors.helpers import (
    QUIET,
    SENTIMENTS,
    T0,
    TAGS,
    WORDS,
    brute_force,
    message,
    run_monitor_flow,
    stored,
)

QUERIES = ["acme", "kettle OR toaster", "acme -broken", "hashtag:acmefail", "refund NEAR/2 late"]

spec = st.lists(
    st.tuples(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
        st.integers(min_value=0, max_value=40 * 60),  # seconds after T0: about eight windows
        st.sampled_from(SENTIMENTS),
        st.sampled_from(["twitter", "email", "feeds"]),
        st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
    ),
    min_size=1,
    max_size=60,
)


# each example runs a dataflow: shrinking a failure would take many minutes, so the failing
# example is reported as found
@hsettings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    spec=spec,
    order_seed=st.integers(0, 2**32 - 1),
    replays=st.integers(0, 10),
    abort_at=st.one_of(st.none(), st.integers(0, 70)),
    lateness=st.sampled_from([0.0, 60.0, 900.0]),
)
def test_window_counts_equal_a_brute_force_count(
    spec: list[tuple[list[str], int, str | None, str, list[str]]],
    order_seed: int,
    replays: int,
    abort_at: int | None,
    lateness: float,
) -> None:
    messages = [
        message(n, words, T0 + timedelta(seconds=s), sentiment=sent, channel=ch, hashtags=tags)
        for n, (words, s, sent, ch, tags) in enumerate(spec)
    ]
    rng = random.Random(order_seed)
    arrivals = messages + [rng.choice(messages) for _ in range(replays)]  # replays of the same id
    rng.shuffle(arrivals)
    items: list[object] = list(arrivals)
    if abort_at is not None:  # a crash mid-stream: the second run resumes from the snapshot
        items.insert(min(abort_at, len(items)), TestingSource.ABORT())

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data", demo=False, monitors=MonitorSettings(lateness_s=lateness)
        )
        crm = open_crm(settings)
        try:
            monitors = [crm.monitors.create(f"m{i}", q, alerts=QUIET) for i, q in enumerate(QUERIES)]
            monitors.append(
                crm.monitors.create("email only", "acme OR kettle", channels=["email"], alerts=QUIET)
            )
            recovery = Path(tmp) / "recovery"
            recovery.mkdir()
            init_db_dir(recovery, 1)
            run_monitor_flow(settings, items, recovery=recovery)
            if abort_at is not None:  # the run stopped at the abort: a recovery run finishes it
                run_monitor_flow(settings, items, recovery=recovery)
            for monitor in monitors:
                assert stored(crm, monitor) == brute_force(monitor, messages), monitor.query
        finally:
            crm.close()


def test_late_messages_go_to_the_correction_path_and_are_counted(settings: Settings) -> None:
    settings = settings.model_copy(update={"monitors": MonitorSettings(lateness_s=0.0)})
    crm = open_crm(settings)
    try:
        monitor = crm.monitors.create("acme", "acme", alerts=QUIET)
        # the third message is 20 minutes older than the newest: far beyond the lateness
        messages = [
            message(1, ["acme"], T0),
            message(2, ["acme"], T0 + timedelta(minutes=30)),
            message(3, ["acme"], T0 + timedelta(minutes=1)),
        ]
        run_monitor_flow(settings, messages)
        windows = {w.window_start: w for w in crm.monitors.windows(monitor.id)}
        assert {k: w.volume for k, w in windows.items()} == {T0: 2, T0 + timedelta(minutes=30): 1}
        assert windows[T0].corrections == 1  # recounted once after the late message
    finally:
        crm.close()


def test_a_message_dated_far_in_the_future_does_not_make_the_others_late(settings: Settings) -> None:
    crm = open_crm(settings)
    try:
        monitor = crm.monitors.create("acme", "acme", alerts=QUIET)
        now = window_start_of(utcnow())  # a live stream: messages of the last minutes
        future = now.replace(year=2099)
        messages = [
            message(1, ["acme"], now),
            message(2, ["acme"], future),
            message(3, ["acme"], now + timedelta(seconds=30)),
        ]
        run_monitor_flow(settings, messages)
        windows = {w.window_start: w for w in crm.monitors.windows(monitor.id)}
        assert {k: w.volume for k, w in windows.items()} == {now: 2, future: 1}
        assert windows[now].corrections == 0  # counted in its window, not by the correction path
    finally:
        crm.close()
