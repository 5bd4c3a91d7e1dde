"""A synthetic window series with known spikes: a daily cycle, Poisson noise, and bursts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from crm.alert_rules import SEASON


def synthetic_series(
    seed: int, *, days: int = 7, spikes: int = 40, base: float = 12.0, swing: float = 10.0
) -> tuple[list[int], set[int]]:
    """(volumes of ``days`` of 5-minute windows, indices of the spikes put in them).

    The level follows the time of day (``base`` ± ``swing``); a spike adds six standard
    deviations of the level (at least 15 messages) to one window; spikes are never in the first
    day (the baseline learns it) nor next to each other.
    """
    rng = random.Random(seed)
    total = days * SEASON
    level = [base + swing * math.sin(2 * math.pi * (i % SEASON) / SEASON) for i in range(total)]
    series = [_poisson(rng, lam) for lam in level]
    chosen: set[int] = set()
    while len(chosen) < spikes:
        index = rng.randrange(SEASON, total)
        if not chosen & {index - 2, index - 1, index, index + 1, index + 2}:
            chosen.add(index)
    for index in chosen:
        series[index] += max(15, round(6 * math.sqrt(level[index])))
    return series, chosen


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small rates of a window
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def precision_recall(flags: Sequence[bool], truth: set[int]) -> tuple[float, float]:
    found = {i for i, flag in enumerate(flags) if flag}
    true_positives = len(found & truth)
    precision = true_positives / len(found) if found else 1.0
    recall = true_positives / len(truth) if truth else 1.0
    return precision, recall
