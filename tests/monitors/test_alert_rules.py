"""The alert rules alone: spikes found on a synthetic series with known spikes (precision and
recall at least 0.9), negative share, emerging terms."""

from __future__ import annotations

from crm.alert_rules import emerging_term, negative_share_fires, spike_thresholds
from crm.monitors import AlertSettings
from tests.monitors.synthetic import precision_recall, synthetic_series

SEEDS = range(5)


def test_spikes_of_a_synthetic_series_are_found_with_precision_and_recall_of_at_least_0_9() -> None:
    k = AlertSettings().spike_k  # the default a monitor gets
    found_true = found = truth = 0
    for seed in SEEDS:
        series, spikes = synthetic_series(seed)
        flags = [flag for flag, _ in spike_thresholds(series, k=k, min_count=10)]
        precision, recall = precision_recall(flags, spikes)
        print(f"seed {seed}: precision {precision:.3f} recall {recall:.3f}")
        hits = {i for i, flag in enumerate(flags) if flag}
        found_true += len(hits & spikes)
        found += len(hits)
        truth += len(spikes)
    precision, recall = found_true / found, found_true / truth
    print(f"pooled over {len(SEEDS)} series: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.9
    assert recall >= 0.9


def test_a_flat_quiet_series_never_spikes_below_the_minimum_count() -> None:
    series = [2, 3, 2, 1, 2, 3] * 20 + [9]  # 9 is far above 2 ± σ but under min_count 10
    assert not any(flag for flag, _ in spike_thresholds(series, k=3.0, min_count=10))
    assert spike_thresholds([*series, 30], k=3.0, min_count=10)[-1][0]


def test_a_storm_does_not_teach_the_baseline_that_storms_are_normal() -> None:
    series = [5] * 30 + [60] * 6
    flags = [flag for flag, _ in spike_thresholds(series, k=3.0, min_count=10)]
    assert flags[30:] == [True] * 6  # spike windows stay out of the baseline


def test_no_spike_is_judged_before_the_baseline_has_seen_anything() -> None:
    assert not spike_thresholds([50], k=3.0, min_count=10)[0][0]


def test_negative_share_needs_enough_known_sentiment() -> None:
    assert negative_share_fires(
        {"negative": 9, "positive": 1, "unknown": 40}, threshold=0.5, min_count=10
    ) == (
        True,
        0.9,
    )
    # unknown is never counted: 5 known are too few
    assert not negative_share_fires({"negative": 5, "unknown": 100}, threshold=0.5, min_count=10)[0]
    assert not negative_share_fires({"negative": 4, "neutral": 6}, threshold=0.5, min_count=10)[0]


def test_an_emerging_term_is_one_whose_share_jumps() -> None:
    baseline = {("hashtag", "kettle"): 50, ("hashtag", "acmefail"): 1}
    window = [("hashtag", "kettle", 5), ("hashtag", "acmefail", 8)]
    jump = emerging_term(window, 10, baseline, 500, min_count=5, jump=3.0)
    assert jump is not None and jump.term == "acmefail" and jump.count == 8
    # kettle's share (0.5) is five times its baseline (0.1), but under the minimum count here
    assert emerging_term([("hashtag", "kettle", 5)], 10, baseline, 500, min_count=6, jump=3.0) is None
    # a share that did not jump
    assert emerging_term([("hashtag", "kettle", 1)], 10, baseline, 500, min_count=1, jump=3.0) is None
