"""The three alert rules of a monitor's window series, as pure functions.

* **Volume spike** (:func:`spike_thresholds`): the series of window volumes (every window, empty
  ones as 0) against a baseline that learns as it goes: an exponentially weighted mean and
  variance (``alpha`` = :data:`ALPHA`, about an hour's memory at 5-minute windows) for the
  first day; once a day of history exists, the expectation is the mean of the same hour of the
  day (the seasonal baseline: a quiet night does not make the morning rush a spike) and σ the
  spread of what that expectation missed. A window is a spike when its volume is at least
  ``min_count`` and above ``expected + k·σ``, with σ at least ``sqrt(expected)`` and 1 (counts
  are Poisson-like: a flat series has no variance but is noisy).
  Spike windows do not feed the baseline, so a storm does not teach it that storms are normal.
* **Negative share** (:func:`negative_share_fires`): negatives over the messages whose
  sentiment is known, at or over the threshold, with at least ``negative_min_count`` known.
* **Emerging term** (:func:`emerging_term`): a hashtag or entity in at least ``term_min_count``
  messages of the window whose share of the window is at least ``term_jump`` times its share
  of the baseline windows (a term never seen before has a share of half a message there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ALPHA", "SEASON", "TermJump", "emerging_term", "negative_share_fires", "spike_thresholds"]

#: weight of the newest window in the running mean and variance
ALPHA = 0.08
#: windows per day, and per hour (5-minute windows)
SEASON = 288
PER_HOUR = 12
#: weight of the newest window in an hour-of-day slot's mean (12 windows a day feed a slot)
SLOT_ALPHA = 0.1
#: windows before any spike may be judged (the baseline must see something first)
WARMUP = 12


@dataclass
class _Ewm:
    mean: float = 0.0
    var: float = 0.0
    n: int = 0

    def add(self, value: float, alpha: float) -> None:
        if self.n == 0:
            self.mean, self.var = value, 0.0
        else:
            delta = value - self.mean
            self.mean += alpha * delta
            self.var = (1 - alpha) * (self.var + alpha * delta * delta)
        self.n += 1

    def threshold(self, k: float) -> float:
        sigma = max(math.sqrt(self.var), math.sqrt(max(self.mean, 0.0)), 1.0)
        return self.mean + k * sigma


def _interpolated(hourly: list[_Ewm], hour: int, minute_slot: int) -> float:
    """The hour's mean, moved towards the neighbouring hour's the nearer the window is to it
    (the level changes within an hour; hourly steps alone read a steady rise as spikes)."""
    offset = (minute_slot + 0.5) / PER_HOUR - 0.5  # -0.5 .. 0.5 from the hour's middle
    neighbour = hourly[(hour + (1 if offset > 0 else -1)) % len(hourly)]
    if not neighbour.n:
        return hourly[hour].mean
    return hourly[hour].mean + abs(offset) * (neighbour.mean - hourly[hour].mean)


def spike_thresholds(
    volumes: Sequence[int], *, k: float, min_count: int, alpha: float = ALPHA, season: bool = True
) -> list[tuple[bool, float]]:
    """For each window of ``volumes`` (consecutive, oldest first): (is a spike, threshold)."""
    overall = _Ewm()  # the level, for the first day
    hourly = [_Ewm() for _ in range(SEASON // PER_HOUR)]  # the level by hour of day, after it
    residual = _Ewm()  # what the expectation misses: its variance widens σ
    out: list[tuple[bool, float]] = []
    for index, volume in enumerate(volumes):
        hour = (index // PER_HOUR) % len(hourly)
        slot = hourly[hour]
        seasonal = season and index >= SEASON and slot.n > 0
        expected = _interpolated(hourly, hour, index % PER_HOUR) if seasonal else overall.mean
        spread = math.sqrt(residual.var) if seasonal else math.sqrt(overall.var)
        sigma = max(spread, math.sqrt(max(expected, 0.0)), 1.0)
        threshold = max(expected + k * sigma, float(min_count))
        spike = index >= WARMUP and volume >= min_count and volume > threshold
        out.append((spike, threshold))
        if not spike:
            if seasonal:
                residual.add(volume - expected, alpha)
            overall.add(volume, alpha)
            slot.add(volume, SLOT_ALPHA)
    return out


def negative_share_fires(
    sentiment: dict[str, int], *, threshold: float, min_count: int
) -> tuple[bool, float]:
    """(fires, share) for one window's sentiment counts."""
    known = sum(sentiment.get(s, 0) for s in ("negative", "neutral", "positive"))
    share = sentiment.get("negative", 0) / known if known else 0.0
    return known >= min_count and share >= threshold, share


@dataclass(frozen=True)
class TermJump:
    """A term whose share jumped: its share now, in the baseline, and the threshold passed."""

    term: str
    kind: str  # hashtag | entity
    count: int
    share: float
    baseline_share: float
    threshold: float


def emerging_term(
    window: Iterable[tuple[str, str, int]],
    volume: int,
    baseline: dict[tuple[str, str], int],
    baseline_volume: int,
    *,
    min_count: int,
    jump: float,
) -> TermJump | None:
    """The term of ``window`` ((kind, term, count) items) whose share jumped most, if any."""
    if volume <= 0:
        return None
    best: TermJump | None = None
    for kind, term, count in window:
        if count < min_count:
            continue
        share = count / volume
        before = baseline.get((kind, term), 0)
        base_share = (before if before else 0.5) / baseline_volume if baseline_volume else 0.0
        threshold = jump * base_share
        if (
            share >= threshold
            and share > 0
            and (best is None or share / max(threshold, 1e-9) > best.share / max(best.threshold, 1e-9))
        ):
            best = TermJump(term, kind, count, share, base_share, threshold)
    return best
