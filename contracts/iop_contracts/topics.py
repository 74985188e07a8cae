"""Topic names of the public contract; how many partitions, which configs and how many replicas
each gets when we create it (`iop topics create`, the only place topics are created)."""

from dataclasses import dataclass
from typing import Final

ROSTER: Final = "iop.roster.v1"
REFERRAL: Final = "iop.referral.v1"
ENROLLMENT: Final = "iop.enrollment.v1"
SCHEDULE: Final = "iop.schedule.v1"
STAFFING: Final = "iop.staffing.v1"
NOTIFICATION: Final = "iop.notification.v1"
ATTENDANCE: Final = "iop.attendance.v1"

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
    STAFFING: 3,
    NOTIFICATION: 3,
    ATTENDANCE: 6,
}

ALL_TOPICS: Final[dict[str, int]] = {
    **PARTITIONS,
    **{dlq(topic): 1 for topic in PARTITIONS},
}

# Kafka is the system of record (ARCHITECTURE.md): services rebuild their state from these topics,
# so what they hold must outlive the broker's default retention (7 days). The roster is a table,
# compacted to the latest event per entity. The schedule topic keeps every event rather than being
# compacted: a compacted client's last event may be a waitlisting, which carries no
# schedule_version, and versions must keep rising across a client's whole history. The staffing
# topic keeps every substitution: the scheduler rereads them so as never to decide one twice.
CONFIGS: Final[dict[str, dict[str, str]]] = {
    ROSTER: {"cleanup.policy": "compact"},
    REFERRAL: {"retention.ms": "-1"},
    ENROLLMENT: {"retention.ms": "-1"},
    SCHEDULE: {"retention.ms": "-1"},
    STAFFING: {"retention.ms": "-1"},
    NOTIFICATION: {"retention.ms": "-1"},
    # Attendance is what payers audit: every record and correction is kept.
    ATTENDANCE: {"retention.ms": "-1"},
}


@dataclass(frozen=True)
class Replication:
    """How many brokers hold each partition (``factor``) and how many of them must have a record
    before an acks=all write is acknowledged (``min_insync``)."""

    factor: int
    min_insync: int


# Three copies, two needed: one broker may fail or restart without losing an acknowledged event
# or stopping writes. KafkaSettings reads these from KAFKA_REPLICATION_FACTOR and
# KAFKA_MIN_INSYNC_REPLICAS.
PRODUCTION: Final = Replication(factor=3, min_insync=2)
# A single-broker cluster (the embedded broker of demos and tests): nothing to replicate to.
SINGLE_BROKER: Final = Replication(factor=1, min_insync=1)


def topic_configs(topic: str, replication: Replication) -> dict[str, str]:
    """The configs `topic` is created with: its own (CONFIGS) and the replication's."""
    return {**CONFIGS.get(topic, {}), "min.insync.replicas": str(replication.min_insync)}
