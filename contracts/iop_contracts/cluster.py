"""Which broker, and which history of records, a bootstrap address leads to.

State a service keeps on its own disk (the notifier's delivery ledger, say) remembers events it
read from Kafka; it is only right about the broker those events came from. `cluster_identity`
names that broker so such state can record it and notice when it is pointed at another one.

Kafka's cluster id alone does not tell two brokers apart: the embedded broker (Tansu, memory
storage) reports `tansu_cluster` on every start, though every start begins with nothing. A topic
id (Metadata v10+, Kafka 2.8+) is drawn afresh each time a topic is created, so a broker that
lost its records, or a topic deleted and created again, gets a new one; reading it needs only
Describe on the topic and writes nothing. The identity is therefore

    <cluster id>/<topic>/<topic id>            e.g. tansu_cluster/iop.schedule.v1/01a22cac-...

with the schedule topic unless the caller names another. A broker too old for topic ids gives
`<cluster id>` alone: Apache Kafka draws a random cluster id when its storage is formatted.

aiokafka 0.14 only speaks Metadata up to v5, so v10 to v12 are declared here with aiokafka's own
protocol types (pinned <0.15) and sent on its client.
"""

import asyncio
import time
import uuid
from io import BytesIO
from typing import Any, TypeAlias

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.abstract import AbstractType
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.metadata import (
    MetadataRequest_v2,
    MetadataRequest_v3,
    MetadataRequest_v4,
    MetadataRequest_v5,
)
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from iop_contracts import topics
from iop_contracts.kafka import KafkaTarget, client_options, kafka_settings

NO_TOPIC_ID = uuid.UUID(int=0)


class ClusterIdentityError(RuntimeError):
    """The broker did not say who it is (unreachable, or the topic does not exist)."""


class _Uuid(AbstractType[uuid.UUID]):
    @classmethod
    def encode(cls, value: uuid.UUID) -> bytes:
        return value.bytes

    @classmethod
    def decode(cls, data: BytesIO) -> uuid.UUID:
        return uuid.UUID(bytes=data.read(16))


_BROKERS = CompactArray(
    ("node_id", Int32),
    ("host", CompactString("utf-8")),
    ("port", Int32),
    ("rack", CompactString("utf-8")),
    ("tags", TaggedFields),
)
_PARTITIONS = CompactArray(
    ("error_code", Int16),
    ("partition", Int32),
    ("leader", Int32),
    ("leader_epoch", Int32),
    ("replicas", CompactArray(Int32)),
    ("isr", CompactArray(Int32)),
    ("offline_replicas", CompactArray(Int32)),
    ("tags", TaggedFields),
)
_TOPICS = CompactArray(
    ("error_code", Int16),
    ("topic", CompactString("utf-8")),
    ("topic_id", _Uuid),
    ("is_internal", Boolean),
    ("partitions", _PARTITIONS),
    ("topic_authorized_operations", Int32),
    ("tags", TaggedFields),
)
_REQUESTED = CompactArray(
    ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
)
_HEAD = (
    ("throttle_time_ms", Int32),
    ("brokers", _BROKERS),
    ("cluster_id", CompactString("utf-8")),
    ("controller_id", Int32),
    ("topics", _TOPICS),
)


class _MetadataResponse_v10(Response):
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(*_HEAD, ("cluster_authorized_operations", Int32), ("tags", TaggedFields))


class _MetadataResponse_v11(Response):
    API_KEY = 3
    API_VERSION = 11
    SCHEMA = Schema(*_HEAD, ("tags", TaggedFields))


class _MetadataResponse_v12(Response):
    # v12 only lets names be null, which changes nothing on the wire for a named topic.
    API_KEY = 3
    API_VERSION = 12
    SCHEMA = _MetadataResponse_v11.SCHEMA


class _MetadataRequest_v10(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 10
    RESPONSE_TYPE = _MetadataResponse_v10
    SCHEMA = Schema(
        ("topics", _REQUESTED),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _MetadataRequest_v11(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 11
    RESPONSE_TYPE = _MetadataResponse_v11
    SCHEMA = Schema(
        ("topics", _REQUESTED),
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _MetadataRequest_v12(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 12
    RESPONSE_TYPE = _MetadataResponse_v12
    SCHEMA = _MetadataRequest_v11.SCHEMA


_Struct: TypeAlias = (
    MetadataRequest_v2
    | MetadataRequest_v3
    | MetadataRequest_v4
    | MetadataRequest_v5
    | _MetadataRequest_v10
    | _MetadataRequest_v11
    | _MetadataRequest_v12
)


class _TopicMetadataRequest(Request[_Struct]):
    """Metadata of one topic, never creating it, at the newest version both sides speak."""

    API_KEY = 3

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def build(self, request_struct_class: type[_Struct]) -> _Struct:
        version = request_struct_class.API_VERSION
        if version >= 11:
            return request_struct_class([(NO_TOPIC_ID, self._topic, {})], False, False, {})
        if version == 10:
            return request_struct_class([(NO_TOPIC_ID, self._topic, {})], False, False, False, {})
        if version >= 4:
            return request_struct_class([self._topic], False)
        return request_struct_class([self._topic])


def identity_of(metadata: dict[str, Any], topic: str) -> str:
    """The identity in a decoded Metadata response; ClusterIdentityError when the topic is not
    (yet) there, since an identity without it would change once it is created."""
    found = [t for t in metadata["topics"] if t["topic"] == topic]
    if not found or found[0]["error_code"] != 0:
        code = found[0]["error_code"] if found else "missing"
        raise ClusterIdentityError(f"topic {topic} not available (error {code})")
    cluster_id = metadata["cluster_id"] or "no-cluster-id"
    topic_id = found[0].get("topic_id", NO_TOPIC_ID)
    if topic_id == NO_TOPIC_ID:
        return str(cluster_id)
    return f"{cluster_id}/{topic}/{topic_id}"


async def _ask(kafka: KafkaTarget, topic: str, request_timeout_ms: int) -> str:
    client = AIOKafkaClient(
        **client_options(kafka),
        client_id="iop-cluster-identity",
        request_timeout_ms=request_timeout_ms,
    )
    try:
        await client.bootstrap()
        response = await client.send(client.get_random_node(), _TopicMetadataRequest(topic))
        return identity_of(response.to_object(), topic)
    finally:
        await client.close()


async def cluster_identity(
    kafka: KafkaTarget, *, topic: str = topics.SCHEDULE, timeout_s: float = 30.0
) -> str:
    """Who the broker at `kafka` (settings, or an address with the environment's security) is,
    as `<cluster id>/<topic>/<topic id>` (see the module).

    Retries while the broker is unreachable or the topic not yet created, then raises
    ClusterIdentityError.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await _ask(kafka, topic, request_timeout_ms=5000)
        except (KafkaError, ClusterIdentityError) as error:
            if time.monotonic() > deadline:
                address = kafka_settings(kafka).bootstrap_servers
                raise ClusterIdentityError(
                    f"no cluster identity from {address} within {timeout_s:.0f} s: {error}"
                ) from error
            await asyncio.sleep(0.5)
