"""FetchBatchPolicy: halve on timeouts, grow back on successes, give up on one message."""

from __future__ import annotations

import pytest

from channels.email.batching import FetchBatchPolicy


def test_timeouts_halve_the_batch_down_to_one() -> None:
    policy = FetchBatchPolicy(50, give_up_after=3)
    sizes = []
    for _ in range(7):
        policy.timed_out(first_uid=10)
        sizes.append(policy.size)
    assert sizes == [25, 12, 6, 3, 1, 1, 1]
    # Only the timeouts at size 1 count against the message.
    assert policy.attempts(10) == 2 and not policy.exhausted(10)
    policy.timed_out(first_uid=10)
    assert policy.exhausted(10)
    assert not policy.exhausted(11)


def test_successes_grow_the_batch_back_to_the_configured_size() -> None:
    policy = FetchBatchPolicy(8, give_up_after=2, grow_after=2)
    for _ in range(3):
        policy.timed_out(first_uid=1)
    assert policy.size == 1
    grown = []
    for _ in range(8):
        policy.succeeded()
        grown.append(policy.size)
    assert grown == [1, 2, 2, 4, 4, 8, 8, 8]


def test_a_timeout_resets_the_growth_streak() -> None:
    policy = FetchBatchPolicy(8, give_up_after=2, grow_after=2)
    policy.timed_out(first_uid=1)  # 4
    policy.succeeded()
    policy.timed_out(first_uid=5)  # 2: the success before does not count towards growth
    policy.succeeded()
    assert policy.size == 2
    policy.succeeded()
    assert policy.size == 4


def test_a_success_or_a_skip_clears_the_attempts_of_a_lone_message() -> None:
    policy = FetchBatchPolicy(1, give_up_after=2)
    policy.timed_out(first_uid=7)
    policy.succeeded()  # it came through after all
    assert policy.attempts(7) == 0
    policy.timed_out(first_uid=7)
    policy.timed_out(first_uid=7)
    assert policy.exhausted(7)
    policy.skipped(7)
    assert policy.attempts(7) == 0 and not policy.exhausted(7)
    # Attempts are per message: a timeout on the next one starts its own count.
    policy.timed_out(first_uid=8)
    assert policy.attempts(8) == 1 and policy.attempts(7) == 0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        FetchBatchPolicy(0, give_up_after=3)
    with pytest.raises(ValueError):
        FetchBatchPolicy(5, give_up_after=0)
