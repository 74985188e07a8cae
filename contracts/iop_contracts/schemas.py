"""JSON Schemas of every payload and the AsyncAPI 3.0 document of every topic, from the models."""

import json
from pathlib import Path
from typing import Any

from iop_contracts import topics
from iop_contracts.envelope import CONTENT_TYPE, TYPE_PREFIX, CloudEvent, dataschema_of
from iop_contracts.payloads import PAYLOAD_TYPES, Payload

_KEYS = {
    topics.ROSTER: "entity id: site:<id>, group:<id> or therapist:<id>",
    topics.REFERRAL: "client_id",
    topics.ENROLLMENT: "region_id",
    topics.SCHEDULE: "client_id",
    topics.STAFFING: "group:<id>",
    topics.NOTIFICATION: "client_id",
    topics.ATTENDANCE: "client_id",
}


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


def _message_name(event_name: str) -> str:
    return event_name.replace(".", "_")


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document describing every topic, its key and the events it carries."""
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for topic, partitions in topics.PARTITIONS.items():
        events = [p for p in PAYLOAD_TYPES if p.topic == topic]
        channel_messages = {}
        for payload in events:
            name = _message_name(payload.event_name)
            messages[name] = {
                "name": TYPE_PREFIX + payload.event_name,
                "contentType": CONTENT_TYPE,
                "headers": {
                    "type": "object",
                    "properties": {
                        "ce_id": {"type": "string"},
                        "ce_type": {"const": TYPE_PREFIX + payload.event_name},
                        "content-type": {"const": CONTENT_TYPE},
                    },
                },
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/cloudevent"},
                        {"properties": {"data": {"$ref": f"#/components/schemas/{name}"}}},
                    ]
                },
            }
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[topic.replace(".", "_")] = {
            "address": topic,
            "description": f"Key: {_KEYS[topic]}. Partitions when created here: {partitions}.",
            "messages": channel_messages,
        }
    schemas = {_message_name(p.event_name): p.model_json_schema() for p in PAYLOAD_TYPES}
    schemas["cloudevent"] = CloudEvent.model_json_schema()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "IOP scheduling integration contract",
            "version": "1.0.0",
            "description": "CloudEvents 1.0, structured JSON mode, over Kafka.",
        },
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
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
