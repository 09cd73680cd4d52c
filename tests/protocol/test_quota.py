"""The account's task quota, sans I/O: the token bucket, and the retry budget under throttling."""

from __future__ import annotations

import random

import pytest

from funasr_realtime.protocol import ConfigurationError, RetryBudget, RetryPolicy, TaskFailedError, TransportTimeout
from funasr_realtime.protocol.quota import TokenBucket

THROTTLED = TaskFailedError("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")


def test_a_full_bucket_gives_its_burst_at_once_then_one_token_per_interval() -> None:
    bucket = TokenBucket(20.0, 5, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(5)] == [0.0] * 5
    waits = [bucket.reserve(0.0) for _ in range(4)]
    assert waits == pytest.approx([0.05, 0.10, 0.15, 0.20]), "waiters are served in order, at the rate"


def test_time_refills_the_bucket_up_to_its_burst_only() -> None:
    bucket = TokenBucket(10.0, 3, now=0.0)
    for _ in range(3):
        bucket.reserve(0.0)
    assert bucket.delay(0.05) == pytest.approx(0.05)
    assert bucket.delay(100.0) == 0.0
    assert [bucket.reserve(100.0) for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1]), "never more than burst"


def test_starts_reserved_at_any_pace_never_exceed_the_rate_plus_the_burst() -> None:
    rate, burst, rng = 20.0, 10, random.Random(7)
    bucket = TokenBucket(rate, burst, now=0.0)
    now, starts = 0.0, []
    for _ in range(2000):
        now += rng.expovariate(200.0)  # ten times more demand than the quota
        starts.append(now + bucket.reserve(now))
    starts.sort()
    for i, start in enumerate(starts):  # any window: at most burst + rate * length starts
        j = next((k for k in range(i, len(starts)) if starts[k] > start + 1.0), len(starts))
        assert j - i <= burst + rate * 1.0 + 1e-9


def test_a_server_check_takes_only_tokens_in_hand() -> None:
    bucket = TokenBucket(2.0, 2, now=0.0)
    assert [bucket.try_take(0.0) for _ in range(3)] == [True, True, False]
    assert not bucket.try_take(0.4)
    assert bucket.try_take(0.5), "one token per 1/rate seconds"


def test_rotations_are_admitted_while_the_wait_stays_within_one_burst() -> None:
    bucket = TokenBucket(20.0, 10, now=0.0)
    assert bucket.max_delay == pytest.approx(0.5)
    admitted = 0
    while bucket.admits(0.0):
        bucket.reserve(0.0)
        admitted += 1
    assert admitted == 20, "the burst in hand, then as many again in debt (0.5 s of waiting)"
    assert bucket.admits(0.05), "the debt shrinks with time"


def test_a_refund_gives_a_cancelled_reservation_back() -> None:
    bucket = TokenBucket(10.0, 1, now=0.0)
    bucket.reserve(0.0)
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    bucket.refund(0.0)
    assert bucket.delay(0.0) == pytest.approx(0.1), "the next waiter gets the cancelled one's slot"
    bucket.refund(10.0)
    assert bucket.delay(10.0) == 0.0 and [bucket.reserve(10.0), bucket.reserve(10.0)] == pytest.approx([0.0, 0.1])


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (20.0, 0)])
def test_a_bucket_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ConfigurationError):
        TokenBucket(rate, burst, now=0.0)


# --------------------------------------------------------------------------- throttling backoff

POLICY = RetryPolicy(max_retries=5, max_outage=30.0, backoff_initial=0.1, backoff_max=5.0)


def test_throttling_is_retried_for_about_a_minute_whatever_max_retries_and_max_outage() -> None:
    budget = RetryBudget(POLICY, rng=random.Random(1))
    now, waited, attempts = 0.0, 0.0, 0
    budget.attempt_started(now)
    while (delay := budget.failed(THROTTLED, now, progressed=False)) is not None:
        assert delay <= POLICY.throttled_backoff_max
        attempts += 1
        waited += delay
        now += delay + 0.05  # each attempt takes a moment to be refused
        budget.attempt_started(now)
    assert attempts > POLICY.max_retries, "throttled attempts do not spend max_retries"
    assert waited >= 60.0, f"the retries wait through the service's minute (waited {waited:.1f} s)"
    assert now <= POLICY.throttled_outage + POLICY.throttled_backoff_max + 1, "and give up after throttled_outage"


def test_throttling_backs_off_from_a_second_not_from_the_transient_initial_delay() -> None:
    budget = RetryBudget(POLICY, rng=random.Random(2))
    budget.attempt_started(0.0)
    first = budget.failed(THROTTLED, 0.0, progressed=False)
    assert first is not None and 0.5 <= first <= 1.0
    second = budget.failed(THROTTLED, 1.0, progressed=False)
    assert second is not None and 1.0 <= second <= 2.0


def test_other_failures_keep_their_budget() -> None:
    budget = RetryBudget(POLICY, rng=random.Random(3))
    budget.attempt_started(0.0)
    delays = [budget.failed(TransportTimeout("connect", 1.0), float(i), progressed=False) for i in range(6)]
    assert all(d is not None and d <= 0.1 * 2**i for i, d in enumerate(delays[:5]))
    assert delays[5] is None, "five retries, as before"


def test_an_outage_that_included_throttling_keeps_its_long_limits() -> None:
    budget = RetryBudget(POLICY, rng=random.Random(4))
    budget.attempt_started(0.0)
    assert budget.failed(THROTTLED, 0.0, progressed=False) is not None
    # The next attempt fails otherwise, 40 s into the outage: past max_outage, within the throttled limit.
    delay = budget.failed(TransportTimeout("task-started", 10.0), 40.0, progressed=False)
    assert delay is not None and delay <= POLICY.backoff_max, "its own (short) backoff"
    assert budget.failed(THROTTLED, POLICY.throttled_outage + 1, progressed=False) is None


def test_progress_ends_the_throttled_outage() -> None:
    budget = RetryBudget(POLICY, rng=random.Random(5))
    budget.attempt_started(0.0)
    budget.failed(THROTTLED, 0.0, progressed=False)
    budget.attempt_started(100.0)
    budget.failed(TransportTimeout("connect", 1.0), 100.0, progressed=True)
    assert not budget.throttled and budget.failures == 1


def test_no_retries_means_none_even_for_throttling() -> None:
    budget = RetryBudget(RetryPolicy(0, 30.0, 0.1, 5.0))
    budget.attempt_started(0.0)
    assert budget.failed(THROTTLED, 0.0, progressed=False) is None
