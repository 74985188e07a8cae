"""Topic names of the public contract and how many partitions each gets when we create it."""

from typing import Final

ROSTER: Final = "iop.roster.v1"
REFERRAL: Final = "iop.referral.v1"
ENROLLMENT: Final = "iop.enrollment.v1"
SCHEDULE: Final = "iop.schedule.v1"
NOTIFICATION: Final = "iop.notification.v1"

DLQ_SUFFIX: Final = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX


# The roster is one partition so every reader sees roster changes in the order they were made;
# enrollments are keyed by region, and six partitions let up to six schedulers share the regions.
PARTITIONS: Final[dict[str, int]] = {
    ROSTER: 1,
    REFERRAL: 3,
    ENROLLMENT: 6,
    SCHEDULE: 6,
    NOTIFICATION: 3,
}

ALL_TOPICS: Final[dict[str, int]] = {
    **PARTITIONS,
    **{dlq(topic): 1 for topic in PARTITIONS},
}

# Kafka is the system of record (ARCHITECTURE.md): services rebuild their state from these topics,
# so what they hold must outlive the broker's default retention (7 days). The roster is a table,
# compacted to the latest event per entity. The schedule topic keeps every event rather than being
# compacted: a compacted client's last event may be a waitlisting, which carries no
# schedule_version, and versions must keep rising across a client's whole history.
CONFIGS: Final[dict[str, dict[str, str]]] = {
    ROSTER: {"cleanup.policy": "compact"},
    REFERRAL: {"retention.ms": "-1"},
    ENROLLMENT: {"retention.ms": "-1"},
    SCHEDULE: {"retention.ms": "-1"},
    NOTIFICATION: {"retention.ms": "-1"},
}
