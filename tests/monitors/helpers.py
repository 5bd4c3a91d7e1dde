"""Messages, monitors and a small dataflow (the monitor steps alone) for the monitor tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSource, run_main

from crm import CRMStore
from crm.monitor_windows import window_start_of
from crm.monitors import AlertSettings, MonitorView
from flows.monitors import add_monitor_steps
from hub.models import Enrichment, Entity, Identity, Message
from hub.settings import Settings
from kb.matcher import compile_matcher

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

#: alerts that never fire: window tests count, they do not judge
QUIET = AlertSettings(volume_spike=False, negative_share=None, emerging_terms=False)

WORDS = ["acme", "kettle", "toaster", "broken", "refund", "love", "globex", "late", "delivery"]
TAGS = ["acmefail", "kettlegate", "win"]
SENTIMENTS: list[str | None] = ["negative", "neutral", "positive", None]


def message(
    n: int,
    words: Sequence[str],
    at: datetime,
    *,
    sentiment: str | None = None,
    channel: str = "twitter",
    author: str = "ann",
    hashtags: Sequence[str] = (),
    entities: Sequence[str] = (),
    language: str = "en",
) -> Message:
    """An enriched message as the enrich step leaves it."""
    return Message(
        channel=channel,
        native_id=f"m{n}",
        text=" ".join(words) + "".join(f" #{h}" for h in hashtags),
        created_at=at,
        language=language,
        author=Identity(channel=channel, native_id=author, handle=author),
        enrichment=Enrichment(
            language=language,
            sentiment={"negative": -0.6, "neutral": 0.0, "positive": 0.6}.get(sentiment or ""),
            sentiment_label=sentiment,  # type: ignore[arg-type]
            hashtags=list(hashtags),
            entities=[Entity(text=e, label="ORG") for e in entities],
        ),
    )


def run_monitor_flow(settings: Settings, items: Iterable[Any], *, recovery: Path | None = None) -> None:
    """The monitor steps over ``items`` (messages, maybe ``TestingSource.ABORT()``), to the end."""
    flow = Dataflow("monitors_test")
    stream = op.input("in", flow, TestingSource(list(items)))
    add_monitor_steps(stream, settings)
    config = RecoveryConfig(str(recovery)) if recovery is not None else None
    run_main(flow, epoch_interval=timedelta(seconds=0), recovery_config=config)


def brute_force(monitor: MonitorView, messages: Iterable[Message]) -> dict[datetime, dict[str, Any]]:
    """What the windows must say, counted the obvious way: each distinct message once."""
    match = compile_matcher(monitor.query)
    unique = {m.id: m for m in messages}
    out: dict[datetime, dict[str, Any]] = {}
    for m in unique.values():
        if monitor.channels and m.channel not in monitor.channels:
            continue
        if not match(m):
            continue
        window = out.setdefault(
            window_start_of(m.created_at), {"volume": 0, "sentiment": Counter(), "channels": Counter()}
        )
        window["volume"] += 1
        window["sentiment"][m.enrichment.sentiment_label or "unknown"] += 1
        window["channels"][m.channel] += 1
    return out


def stored(crm: CRMStore, monitor: MonitorView) -> dict[datetime, dict[str, Any]]:
    """The windows the store holds for ``monitor``, in ``brute_force``'s shape."""
    return {
        w.window_start: {
            "volume": w.volume,
            "sentiment": Counter({k: v for k, v in w.sentiment.items() if v}),
            "channels": Counter(w.channels),
        }
        for w in crm.monitors.windows(monitor.id)
    }
