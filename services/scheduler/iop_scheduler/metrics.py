"""Prometheus metrics of one scheduler instance (own registry: several apps may share a process
in tests, and the default registry refuses a second set of the same names)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500)
SOLVE_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.batches = Counter(
            "scheduler_batches", "Batches processed, by outcome", ["outcome"], registry=r
        )
        self.batch_size = Histogram(
            "scheduler_batch_size", "Records per batch", buckets=BATCH_SIZES, registry=r
        )
        self.solve_seconds = Histogram(
            "scheduler_solve_seconds",
            "Wall time of one region solve",
            buckets=SOLVE_SECONDS,
            registry=r,
        )
        self.events = Counter(
            "scheduler_schedule_events",
            "Schedule events published, by type (client.scheduled, client.waitlisted, ...)",
            ["type"],
            registry=r,
        )
        self.dead_letters = Counter(
            "scheduler_dead_letters", "Records sent to a dead-letter topic", ["topic"], registry=r
        )
        self.waitlist = Gauge(
            "scheduler_waitlist_size", "Clients waiting, per owned region", ["region"], registry=r
        )
        self.placed = Gauge(
            "scheduler_placed_clients", "Clients placed, per owned region", ["region"], registry=r
        )
        self.lag = Gauge(
            "scheduler_consumer_lag",
            "Enrollment records not yet processed, per owned partition",
            ["partition"],
            registry=r,
        )
        self.ready = Gauge("scheduler_ready", "1 when owned regions are rebuilt", registry=r)
        self.rebuild_seconds = Histogram(
            "scheduler_rebuild_seconds", "Wall time of a rebuild after assignment", registry=r
        )
