"""Prometheus metrics of the notifier, in a registry of its own (so tests can build many apps)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sent = Counter(
            "notifier_sent", "Messages accepted by the transport", ["channel"], registry=r
        )
        self.failed = Counter(
            "notifier_failed",
            "Messages failed for good (incl. possibly sent)",
            ["channel", "reason"],
            registry=r,
        )
        self.suppressed = Counter(
            "notifier_suppressed",
            "Messages not sent by rule (consent, superseded)",
            ["channel", "reason"],
            registry=r,
        )
        self.deferred = Counter(
            "notifier_deferred",
            "SMS deferred by quiet hours or rate limits",
            ["channel"],
            registry=r,
        )
        self.retries = Counter(
            "notifier_retries",
            "Transient transport failures scheduled for retry",
            ["channel"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "notifier_send_seconds",
            "Time to hand one message to its transport",
            ["channel"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "notifier_dead_lettered", "Records sent to a dead-letter topic", ["topic"], registry=r
        )
        self.waiting = Gauge(
            "notifier_waiting_deliveries", "Deliveries pending or deferred", registry=r
        )
