"""The scheduler service's settings: environment variables prefixed SCHEDULER_."""

from iop_contracts.kafka import KafkaSettings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    """One class for the whole service; every field is `SCHEDULER_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8081, ge=0, le=65535)
    log_level: str = "INFO"

    # Consumer group: every instance in one group splits the enrollment topic's partitions
    # (regions). Tests shorten the session so that joins and takeovers take seconds.
    group_id: str = "iop-scheduler"
    client_id: str = "iop-scheduler"
    session_timeout_ms: int = Field(10000, ge=1000)
    heartbeat_interval_ms: int = Field(3000, ge=100)
    # A fetch waits at most this long for data; short keeps enrollment-to-schedule latency low.
    fetch_max_wait_ms: int = Field(100, ge=10)

    # Micro-batching per partition: a batch closes after `batch_quiet_ms` without new records,
    # after `batch_max_wait_ms` since its first record, or at `batch_max_size` records.
    batch_quiet_ms: int = Field(50, ge=0)
    batch_max_wait_ms: int = Field(500, ge=0)
    batch_max_size: int = Field(100, ge=1)
    # Records held per partition before its fetching pauses (back-pressure while solving).
    max_pending_per_partition: int = Field(1000, ge=1)

    # The solve runs in a worker thread, bounded in time; kept well below the consumer's
    # max poll interval (aiokafka's default, 300 s) and the rebalance timeout.
    solve_time_limit_s: float = Field(2.0, gt=0, le=60)
    solve_workers: int = Field(8, ge=1, le=64)
    solve_relative_gap: float = Field(0.0, ge=0, le=1)
    # SCHEDULING.md rule 9: a start lies at most this many days after the earliest admissible day.
    admission_horizon_days: int = Field(28, ge=0, le=365)
    # How many region batches may solve at once (each uses `solve_workers` CP-SAT threads).
    # Two measured best on 2 vCPUs at 100 enrollments/s (bench/results/scheduler_service.md);
    # a lane waiting for a slot keeps collecting records, so batches grow with the load.
    concurrent_solves: int = Field(2, ge=1, le=16)

    # How often the scheduler looks for programmes that ended (client.completed, seats freed)
    # and for a new day (the waitlist is retried as the admission horizon moves on).
    calendar_tick_s: float = Field(60.0, gt=0)

    # How long a failed publish waits before the batch is retried (doubles up to 30 s).
    retry_backoff_s: float = Field(0.5, gt=0)
    # Seconds a stopping or revoked partition waits for its running batch to finish.
    drain_timeout_s: float = Field(30.0, gt=0)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
