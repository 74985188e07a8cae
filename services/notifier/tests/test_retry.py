import random

from iop_notifier.domain.retry import RetryPolicy


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_s=2.0, max_s=60.0, max_attempts=5)
    rng = random.Random(7)
    for attempt, cap in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 60.0), (10, 60.0)]:
        delays = {policy.delay(attempt, rng) for _ in range(50)}
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(delays) > 1  # jittered, not a fixed value


def test_exhausted_after_max_attempts() -> None:
    policy = RetryPolicy(base_s=1, max_s=10, max_attempts=3)
    assert not policy.exhausted(2)
    assert policy.exhausted(3)
