"""JSON Schemas of every payload and the AsyncAPI 3.0 document of every topic, from the models.

The AsyncAPI document describes the whole system as integrators meet it: one channel per topic
and per dead-letter topic (Kafka bindings: key, partitions, replicas, topic configs, as
`iop topics create` makes them), one message per event type (headers, envelope, payload, key,
the contract's example), the servers (the embedded broker, your own cluster), and who sends and
receives what (one operation per party, action and channel, with its consumer group). Every
schema lives under `components/schemas`, and every `$ref` points inside the document.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic.json_schema import models_json_schema

from iop_contracts import topics, tracing
from iop_contracts.contract_doc import PRODUCERS
from iop_contracts.envelope import CONTENT_TYPE, TYPE_PREFIX, CloudEvent, dataschema_of
from iop_contracts.examples import EXAMPLES
from iop_contracts.payloads import PAYLOAD_TYPES, Payload

KAFKA_BINDING: Final = "0.5.0"
SCHEMAS: Final = "#/components/schemas/"
DEAD_LETTER: Final = "dead_letter"
EXAMPLE_TIME: Final = "2026-11-26T17:00:00Z"


def payload_schema(payload_type: type[Payload]) -> dict[str, Any]:
    schema = payload_type.model_json_schema(mode="validation")
    schema["$id"] = dataschema_of(TYPE_PREFIX + payload_type.event_name)
    schema["title"] = payload_type.event_name
    return schema


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per payload, keyed by event name."""
    schemas = {p.event_name: payload_schema(p) for p in PAYLOAD_TYPES}
    schemas["cloudevent"] = CloudEvent.model_json_schema()
    return schemas


# ------------------------------------------------------------------ who sends and receives


@dataclass(frozen=True)
class Role:
    """What one party does with one topic. ``events`` empty: every event of the topic;
    ``group``: the consumer group it reads in (None: it reads every partition, no group)."""

    party: str
    action: Literal["send", "receive"]
    topic: str
    why: str
    events: tuple[str, ...] = ()
    group: str | None = None


ENROLLMENT_WRITES: Final = (
    "enrollment.requested",
    "enrollment.declined",
    "enrollment.withdrawn",
    "client.discharged",
    "enrollment.extended",
)
ATTENDANCE_WRITES: Final = (
    "attendance.recorded",
    "client.hours_at_risk",
    "client.attendance_alert",
)

PARTIES: Final[dict[str, str]] = {
    "intake": "The front door: HTTP API and referrals in, enrollment events out.",
    "scheduler": "Places clients in groups (CP-SAT); the only writer of schedules and substitutes.",
    "notifier": "Schedule events to email and SMS; reports every outcome.",
    "clinic": "Staff's side: attendance, weekly hours, make-up requests, reports, the board.",
    "network_admin": "The provider network's admin systems (and `iop roster load`).",
    "ehr": "EHRs and referral partners.",
}

ROLES: Final[tuple[Role, ...]] = (
    Role("intake", "receive", topics.REFERRAL, "screens referrals", group="iop-intake-referrals"),
    Role("intake", "send", topics.ENROLLMENT, "accepted, declined and ended enrollments",
         ENROLLMENT_WRITES),
    Role("intake", "receive", topics.ENROLLMENT, "rebuilds request status (whole topic)"),
    Role("intake", "receive", topics.SCHEDULE, "rebuilds request status (whole topic)"),
    Role("scheduler", "receive", topics.ENROLLMENT, "places, extends and releases clients; "
         "the topic is keyed by region, so a region's whole problem is one member's",
         group="iop-scheduler"),
    Role("scheduler", "receive", topics.ROSTER, "every instance reads the whole table; the group "
         "checks each record once, to dead-letter the refused",
         group="iop-scheduler-roster-check"),
    Role("scheduler", "receive", topics.SCHEDULE, "rebuilds placements (whole topic)"),
    Role("scheduler", "receive", topics.STAFFING, "rebuilds substitutions (whole topic)"),
    Role("scheduler", "send", topics.SCHEDULE, "every placement decision"),
    Role("scheduler", "send", topics.STAFFING, "substitute facilitators"),
    Role("notifier", "receive", topics.SCHEDULE, "queues the messages each schedule calls for",
         group="iop-notifier"),
    Role("notifier", "receive", topics.ENROLLMENT, "contact details and language (whole topic, "
         "kept in memory only)"),
    Role("notifier", "send", topics.NOTIFICATION, "the outcome of every message"),
    Role("clinic", "receive", topics.ATTENDANCE, "checks weekly hours on each attendance record "
         "and raises alerts", group="iop-clinic-attendance"),
    Role("clinic", "send", topics.ATTENDANCE, "attendance taken by staff, hours at risk, alerts",
         ATTENDANCE_WRITES),
    Role("clinic", "send", topics.ENROLLMENT, "asks the scheduler for a make-up session",
         ("makeup.requested",)),
    *(
        Role("clinic", "receive", topic, "the board's read model (whole topic)")
        for topic in (
            topics.ROSTER, topics.ENROLLMENT, topics.SCHEDULE, topics.STAFFING, topics.NOTIFICATION
        )
    ),
    Role("network_admin", "send", topics.ROSTER, "sites, groups and therapists"),
    Role("ehr", "send", topics.REFERRAL, "referrals with screening"),
    Role("ehr", "send", topics.ATTENDANCE, "attendance kept in the EHR", ("attendance.recorded",)),
)  # fmt: skip


def dead_letter_roles() -> tuple[Role, ...]:
    """Every group consumer dead-letters what it cannot handle to ``<topic>.dlq``."""
    return tuple(
        Role(r.party, "send", topics.dlq(r.topic), f"records refused by {r.group}")
        for r in ROLES
        if r.group is not None
    )


# ------------------------------------------------------------------ components


def channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def message_id(event_name: str) -> str:
    return event_name.replace(".", "_")


def _hoisted_schemas() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """One schema per payload and the envelope, with every nested model under
    ``components/schemas`` (one namespace: pydantic names apart models that share a name)."""
    models = [(CloudEvent, "validation"), *((p, "validation") for p in PAYLOAD_TYPES)]
    refs, definitions = models_json_schema(models, ref_template=SCHEMAS + "{model}")  # type: ignore[arg-type]
    return refs, definitions.get("$defs", {})


def _record_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kafka record headers (UTF-8 text).",
        "required": ["content-type", "ce_id", "ce_type"],
        "properties": {
            "content-type": {"const": CONTENT_TYPE},
            "ce_id": {"type": "string", "description": "the envelope's `id`"},
            "ce_type": {"type": "string", "description": "the envelope's `type`"},
            tracing.TRACEPARENT: {
                "type": "string",
                "pattern": tracing.TRACEPARENT_PATTERN,
                "description": "W3C Trace Context of the span that published the record",
            },
            tracing.TRACESTATE: {"type": "string", "maxLength": tracing.TRACESTATE_MAX},
        },
    }


def _dead_letter_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The refused record's own headers, plus why, who and when.",
        "required": ["dlq_reason", "dlq_consumer", "dlq_at"],
        "properties": {
            "dlq_reason": {
                "type": "string",
                "maxLength": 1000,
                "description": "why: the field at fault or the error's type, never a value",
            },
            "dlq_consumer": {"type": "string", "description": "the consumer that refused it"},
            "dlq_at": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": {"type": "string"},
    }


def key_schema(payload_type: type[Payload]) -> dict[str, Any]:
    """The Kafka key of an event type, as a schema: which payload field it is made from (with
    its prefix, on the roster and staffing topics), read off the contract's example."""
    example = EXAMPLES[TYPE_PREFIX + payload_type.event_name]
    key = payload_type.model_construct(**example).kafka_key
    for field, value in example.items():
        if not isinstance(value, str) or not value or not key.endswith(value):
            continue
        prefix = key.removesuffix(value)
        if prefix == "":
            return {"type": "string", "description": f"the payload's `{field}`"}
        if prefix.endswith(":"):
            return {
                "type": "string",
                "pattern": f"^{re.escape(prefix)}",
                "description": f"`{prefix}` followed by the payload's `{field}`",
            }
    raise ValueError(f"{payload_type.event_name}: the key is not made from one field")


def example_envelope(payload_type: type[Payload]) -> dict[str, Any]:
    """The contract's example of an event type, in its envelope as it goes on the wire."""
    event_type = TYPE_PREFIX + payload_type.event_name
    data = EXAMPLES[event_type]
    return {
        "specversion": "1.0",
        "id": "0b9f5c3e-5d2a-4c4e-9a51-6f1f2b7d8e90",
        "source": "/iop/example",
        "type": event_type,
        "subject": str(data[payload_type.subject_field]),
        "time": EXAMPLE_TIME,
        "datacontenttype": "application/json",
        "dataschema": dataschema_of(event_type),
        "correlationid": "0b9f5c3e-5d2a-4c4e-9a51-6f1f2b7d8e90",
        "causationid": None,
        "data": data,
    }


def _message(
    payload_type: type[Payload], payload_ref: dict[str, Any], envelope_ref: dict[str, Any]
) -> dict[str, Any]:
    event_type = TYPE_PREFIX + payload_type.event_name
    example = example_envelope(payload_type)
    summary = (payload_type.__doc__ or event_type).strip().splitlines()[0]
    return {
        "name": event_type,
        "title": payload_type.event_name,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": SCHEMAS + "RecordHeaders"},
                {"properties": {"ce_type": {"const": event_type}}},
            ]
        },
        "payload": {
            "allOf": [
                envelope_ref,
                {
                    "type": "object",
                    "required": ["type", "data"],
                    "properties": {"type": {"const": event_type}, "data": payload_ref},
                },
            ]
        },
        "correlationId": {"$ref": "#/components/correlationIds/correlationid"},
        "bindings": {"kafka": {"key": key_schema(payload_type), "bindingVersion": KAFKA_BINDING}},
        "examples": [
            {
                "name": payload_type.event_name,
                "headers": {"content-type": CONTENT_TYPE, "ce_id": example["id"],
                            "ce_type": event_type},
                "payload": example,
            }
        ],
    }  # fmt: skip


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER,
        "title": "dead letter",
        "summary": "A record a consumer could not handle: as it came, plus why, who and when.",
        "contentType": "application/octet-stream",
        "headers": {"$ref": SCHEMAS + "DeadLetterHeaders"},
        "payload": {
            "description": "The refused record's value, byte for byte: usually an event of the "
            "source topic, but possibly anything (bad JSON, bad UTF-8, an unknown type)."
        },
        "bindings": {
            "kafka": {
                "key": {"description": "the refused record's key, unchanged"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _components() -> dict[str, Any]:
    refs, schemas = _hoisted_schemas()
    schemas["RecordHeaders"] = _record_headers()
    schemas["DeadLetterHeaders"] = _dead_letter_headers()
    envelope = refs[(CloudEvent, "validation")]
    messages = {
        message_id(p.event_name): _message(p, refs[(p, "validation")], envelope)
        for p in PAYLOAD_TYPES
    }
    messages[DEAD_LETTER] = _dead_letter_message()
    return {
        "schemas": schemas,
        "messages": messages,
        "correlationIds": {
            "correlationid": {
                "description": "The id of the event that began the chain (an enrollment "
                "request): its schedules and notifications carry it too.",
                "location": "$message.payload#/correlationid",
            }
        },
        "securitySchemes": _security_schemes(),
    }


def _security_schemes() -> dict[str, Any]:
    sasl = "over SASL_SSL: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
    return {
        "scramSha512": {"type": "scramSha512", "description": f"SCRAM-SHA-512 {sasl}"},
        "scramSha256": {"type": "scramSha256", "description": f"SCRAM-SHA-256 {sasl}"},
        "mutualTls": {
            "type": "X509",
            "description": "a client certificate (KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE) over SSL",
        },
    }


def _servers() -> dict[str, Any]:
    kafka = {"kafka": {"bindingVersion": KAFKA_BINDING}}
    security = [
        {"$ref": f"#/components/securitySchemes/{name}"}
        for name in ("scramSha512", "scramSha256", "mutualTls")
    ]
    return {
        "production": {
            "host": "{bootstrap}",
            "protocol": "kafka-secure",
            "description": "Your own Kafka cluster (KAFKA_BOOTSTRAP_SERVERS), TLS verified; "
            f"topics are created with {topics.PRODUCTION.factor} replicas and "
            f"min.insync.replicas={topics.PRODUCTION.min_insync}, written with acks=all.",
            "variables": {
                "bootstrap": {
                    "default": "kafka-1.example.internal:9093",
                    "description": "one of your brokers' host:port",
                }
            },
            "security": security,
            "bindings": kafka,
        },
        "embedded": {
            "host": "127.0.0.1:{port}",
            "protocol": "kafka",
            "description": "The broker `iop up` and the tests start on this machine (Tansu, "
            "memory only): plaintext, one broker, one replica. For demos and tests only.",
            "variables": {"port": {"default": "9092", "description": "printed by `iop up`"}},
            "bindings": kafka,
        },
    }


# ------------------------------------------------------------------ channels and operations


def _topic_configuration(topic: str) -> dict[str, Any]:
    """The configs `iop topics create` gives the topic, typed as the Kafka binding wants them."""
    typed: dict[str, Any] = {}
    for name, value in topics.topic_configs(topic, topics.PRODUCTION).items():
        if name == "cleanup.policy":
            typed[name] = value.split(",")
        else:
            typed[name] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return typed


def _kafka_channel(topic: str, partitions: int) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic,
            "partitions": partitions,
            "replicas": topics.PRODUCTION.factor,
            "topicConfiguration": _topic_configuration(topic),
            "bindingVersion": KAFKA_BINDING,
        }
    }


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for topic, partitions in topics.PARTITIONS.items():
        events = [p for p in PAYLOAD_TYPES if p.topic == topic]
        channels[channel_id(topic)] = {
            "address": topic,
            "title": topic,
            "description": f"Written by {PRODUCERS[topic]}. Every key is made from one "
            "payload field (see each message's Kafka binding); a key's events keep their order.",
            "messages": {message_id(p.event_name): _message_ref(p.event_name) for p in events},
            "bindings": _kafka_channel(topic, partitions),
        }
        dlq = topics.dlq(topic)
        channels[channel_id(dlq)] = {
            "address": dlq,
            "title": dlq,
            "description": f"Records of {topic} that a consumer refused, with the reason.",
            "messages": {DEAD_LETTER: _message_ref(DEAD_LETTER)},
            "bindings": _kafka_channel(dlq, topics.ALL_TOPICS[dlq]),
        }
    return channels


def _message_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{message_id(name)}"}


def _operation(role: Role, channels: dict[str, Any]) -> dict[str, Any]:
    channel = channel_id(role.topic)
    names = list(channels[channel]["messages"])
    wanted = [message_id(e) for e in role.events] or names
    unknown = set(wanted) - set(names)
    if unknown:
        raise ValueError(f"{role.party} {role.action} {role.topic}: no messages {unknown}")
    operation: dict[str, Any] = {
        "action": role.action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"{role.party} {role.action}s {role.topic}",
        "summary": role.why,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in wanted],
        "tags": [{"name": role.party}],
    }
    if role.group is not None:
        group = {"type": "string", "const": role.group}
        operation["bindings"] = {"kafka": {"groupId": group, "bindingVersion": KAFKA_BINDING}}
    return operation


def _operations(channels: dict[str, Any]) -> dict[str, Any]:
    operations = {}
    for role in (*ROLES, *dead_letter_roles()):
        name = f"{role.party}_{role.action}_{channel_id(role.topic)}"
        if name in operations:
            raise ValueError(f"two roles make operation {name}")
        operations[name] = _operation(role, channels)
    return operations


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of every topic, event, party and server of the system."""
    channels = _channels()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "IOP scheduling integration contract",
            "version": "1.0.0",
            "description": "CloudEvents 1.0, structured JSON mode, over Kafka. Delivery is at "
            "least once: act once per event `id`. Tags name the party of each operation.",
            "tags": [{"name": name, "description": text} for name, text in PARTIES.items()],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": _servers(),
        "channels": channels,
        "operations": _operations(channels),
        "components": _components(),
    }


def export(directory: Path) -> list[Path]:
    """Write one JSON Schema per payload and `asyncapi.json` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = directory / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n")
    written.append(path)
    return written
