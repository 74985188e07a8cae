"""The consumption kernel: the one way every service reads Kafka.

Three readers, one set of rules:
- ``TableReader`` reads whole topics (every partition, no consumer group) from the beginning and
  keeps following them: the roster table, and the topics a service folds into a read model.
- ``subscribe_isolated`` registers a FastStream subscriber in a consumer group for per-record
  work: decode once, hand the event to the service's handler, commit after the handler returned
  (its outputs are durable by then), dead-letter whatever cannot be handled.
- ``PartitionLanes`` is a group consumer that hands each owned partition's decoded records to the
  service and lets the service commit each partition when its batch is done (the scheduler's
  micro-batches), with rebalance hooks for rebuilding state before the first answer.
``read_partitions`` reads a range once (a partition's history up to a committed offset).

The rules every reader keeps:
- A record costs only itself. Any failure to decode or handle one record (ContractError,
  RecursionError, a domain error, a rendering error) is caught; a group consumer sends that
  record to ``<topic>.dlq`` with ``dlq_reason``, ``dlq_consumer`` and ``dlq_at`` and moves on; a
  table reader logs and skips it (the topic's group consumer owns its dead letters, so that N
  instances reading a table do not dead-letter one record N times).
- Infrastructure failures (``TRANSIENT``: the broker, the network, a timeout) are not the
  record's fault: the record is retried with backoff, never dead-lettered or skipped.
- A missing topic is waited for: the reader is not caught up until the topic exists and has been
  read to its end (a service must not answer from a table it has not read). It logs the wait.
- A reader whose task ends for any other reason reports ``alive == False``; services put that in
  liveness, so the orchestrator restarts them instead of leaving a deaf process ready.
- Nothing personal in logs: records are named by topic, partition and offset; errors by type,
  code location and (for ContractError, whose messages name fields and never values) message.
"""

from iop_contracts.consume.groups import (
    Delivery,
    Handle,
    PartitionHooks,
    PartitionLanes,
    handle_isolated,
    subscribe_isolated,
    subscriber_alive,
    tolerant_headers,
)
from iop_contracts.consume.records import (
    TRANSIENT,
    Backoff,
    DeadLetters,
    Record,
    decode,
    describe,
    until_done,
    where,
)
from iop_contracts.consume.tables import (
    RecordReader,
    TableReader,
    read_partitions,
    read_records,
    read_table,
)

__all__ = [
    "TRANSIENT",
    "Backoff",
    "DeadLetters",
    "Delivery",
    "Handle",
    "PartitionHooks",
    "PartitionLanes",
    "Record",
    "RecordReader",
    "TableReader",
    "decode",
    "describe",
    "handle_isolated",
    "read_partitions",
    "read_records",
    "read_table",
    "subscribe_isolated",
    "subscriber_alive",
    "tolerant_headers",
    "until_done",
    "where",
]
