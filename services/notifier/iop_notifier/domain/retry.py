"""Exponential backoff with jitter for transient transport failures."""

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float
    max_s: float
    max_attempts: int

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        "Equal jitter" (uniform in [cap/2, cap]): the random half spreads a burst of failures so
        a server coming back is not hit by every queued message at once; the fixed half keeps
        the delay growing, so a long outage is not hammered.
        """
        cap = min(self.max_s, self.base_s * (2 ** max(0, attempt - 1)))
        draw = (rng or random).uniform(0.5, 1.0)
        return cap * draw

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
