"""The AsyncAPI document is complete and true: valid AsyncAPI 3.0, every `$ref` resolves, every
topic and dead-letter topic is a channel with its Kafka bindings as `iop topics create` makes
it, every event type is a message, every party's operations name messages of their channel, and
every contract example validates against its message's schemas as the document states them.

The AsyncAPI 3.0.0 JSON Schema is the official one, vendored under data/ (see data/README.md)."""

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import topics
from iop_contracts.envelope import CONTENT_TYPE, EVENT_TYPES, TYPE_PREFIX, dataschema_of
from iop_contracts.examples import EXAMPLES
from iop_contracts.payloads import PAYLOAD_TYPES
from iop_contracts.schemas import asyncapi_document, channel_id, export, message_id
from iop_intake.settings import IntakeSettings
from iop_notifier.settings import NotifierSettings
from iop_scheduler.settings import SchedulerSettings
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"
DOCUMENT_URI = "urn:iop:asyncapi"
SERVICES = ("intake", "scheduler", "notifier", "clinic")
# Keywords of JSON Schema 2020-12 that an AsyncAPI 3.0 (draft-07) reader would not understand.
NEWER_KEYWORDS = {"$defs", "prefixItems", "unevaluatedProperties", "dependentRequired", "$anchor"}


@cache
def asyncapi_validator() -> Draft7Validator:
    return Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, node) of a document."""
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, f"{path}/{index}")


def resolve(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def validator_at(document: dict[str, Any], pointer: str) -> Draft7Validator:
    """A validator for the schema at ``pointer``, whose `$ref`s resolve inside the document."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7)
    )
    return Draft7Validator({"$ref": f"{DOCUMENT_URI}{pointer}"}, registry=registry)


def message_of(event_type: str) -> str:
    return f"#/components/messages/{message_id(event_type.removeprefix(TYPE_PREFIX))}"


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": "e-1", "source": "/iop/test", "type": event_type,
        "subject": "s-1", "time": "2026-11-26T17:00:00Z", "datacontenttype": "application/json",
        "dataschema": dataschema_of(event_type), "correlationid": "e-1", "causationid": None,
        "data": data,
    }  # fmt: skip


# ------------------------------------------------------------------ valid, no dangling refs


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    errors = [e.message[:200] for e in asyncapi_validator().iter_errors(document)]
    assert errors == []


def test_the_asyncapi_schema_refuses_what_asyncapi_3_does_not_allow(
    document: dict[str, Any],
) -> None:
    """The vendored schema does check: an AsyncAPI 2 verb, a partition count of zero and an
    unknown binding field are each refused."""
    for breakage in (
        ("operations", "intake_send_iop_enrollment_v1", "action", "publish"),
        ("channels", "iop_enrollment_v1", "bindings", "kafka", "partitions", 0),
        ("channels", "iop_enrollment_v1", "bindings", "kafka", "partition_count", 6),
    ):
        broken = copy.deepcopy(document)
        *path, field, value = breakage
        node = broken
        for part in path:
            node = node[part]
        node[field] = value
        assert list(asyncapi_validator().iter_errors(broken)), breakage


def test_every_ref_points_inside_the_document(document: dict[str, Any]) -> None:
    refs = [(p, node["$ref"]) for p, node in walk(document) if isinstance(node, dict)
            and isinstance(node.get("$ref"), str)]  # fmt: skip
    assert len(refs) > 100
    for where, ref in refs:
        assert ref.startswith("#/"), f"{where}: {ref}"
        resolve(document, ref)  # KeyError names a dangling one


def test_schemas_use_only_what_an_asyncapi_3_reader_understands(
    document: dict[str, Any],
) -> None:
    keys = {key for _, node in walk(document) if isinstance(node, dict) for key in node}
    assert keys & NEWER_KEYWORDS == set()


# ------------------------------------------------------------------ channels and messages


def test_every_topic_and_dead_letter_topic_is_a_channel_with_its_kafka_binding(
    document: dict[str, Any],
) -> None:
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == set(topics.ALL_TOPICS)
    for topic, partitions in topics.ALL_TOPICS.items():
        binding = channels[channel_id(topic)]["bindings"]["kafka"]
        assert binding["partitions"] == partitions
        assert binding["replicas"] == topics.PRODUCTION.factor
        made = topics.topic_configs(topic, topics.PRODUCTION)
        assert {k: str(v if not isinstance(v, list) else ",".join(v))
                for k, v in binding["topicConfiguration"].items()} == made  # fmt: skip


def test_every_event_type_is_a_message_on_its_topics_channel(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    for payload in PAYLOAD_TYPES:
        event_type = TYPE_PREFIX + payload.event_name
        name = message_id(payload.event_name)
        assert messages[name]["name"] == event_type
        channel = document["channels"][channel_id(payload.topic)]
        assert channel["messages"][name] == {"$ref": f"#/components/messages/{name}"}
    dead = {c["address"] for c in document["channels"].values() if "dead_letter" in c["messages"]}
    assert dead == {topics.dlq(topic) for topic in topics.PARTITIONS}


def test_a_messages_kafka_key_is_the_field_the_payload_keys_by(document: dict[str, Any]) -> None:
    for payload in PAYLOAD_TYPES:
        key = resolve(document, message_of(payload.event_name))["bindings"]["kafka"]["key"]
        example = EXAMPLES[TYPE_PREFIX + payload.event_name]
        actual = payload.model_construct(**example).kafka_key
        assert Draft7Validator(key).is_valid(actual), payload.event_name
        field = key["description"].split("`")[-2]
        assert actual.endswith(example[field]), payload.event_name


# ------------------------------------------------------------------ operations


def test_operations_name_only_messages_of_their_channel(document: dict[str, Any]) -> None:
    for name, operation in document["operations"].items():
        channel = resolve(document, operation["channel"]["$ref"])
        channel_pointer = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_pointer}/messages/"), name
            assert resolve(document, message["$ref"]) in channel["messages"].values()


def test_each_service_sends_and_receives_and_every_event_has_a_sender(
    document: dict[str, Any],
) -> None:
    operations = document["operations"].values()
    for service in SERVICES:
        actions = {o["action"] for o in operations if o["tags"] == [{"name": service}]}
        assert actions == {"send", "receive"}, service
    sent = {
        resolve(document, resolve(document, m["$ref"])["$ref"])["name"]
        for o in operations if o["action"] == "send" for m in o["messages"]
    }  # fmt: skip
    assert set(EVENT_TYPES) <= sent
    received = {resolve(document, o["channel"]["$ref"])["address"]
                for o in operations if o["action"] == "receive"}  # fmt: skip
    assert set(topics.PARTITIONS) <= received


def test_consumer_groups_are_the_services_own(document: dict[str, Any]) -> None:
    groups = {
        name: o["bindings"]["kafka"]["groupId"]["const"]
        for name, o in document["operations"].items() if "bindings" in o
    }  # fmt: skip
    scheduler = SchedulerSettings.model_fields["group_id"].default
    assert groups["scheduler_receive_iop_enrollment_v1"] == scheduler
    assert groups["scheduler_receive_iop_roster_v1"] == f"{scheduler}-roster-check"
    assert groups["notifier_receive_iop_schedule_v1"] == (
        NotifierSettings.model_fields["consumer_group"].default
    )
    assert groups["intake_receive_iop_referral_v1"] == (
        IntakeSettings.model_fields["referral_group_id"].default
    )
    # Whoever reads in a group dead-letters what it refuses: it sends on that dead-letter topic.
    for name in groups:
        party, _, channel = name.split("_", 2)
        assert f"{party}_send_{channel}_dlq" in document["operations"], name


# ------------------------------------------------------------------ the examples


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_the_contract_example_validates_against_its_message_in_the_document(
    document: dict[str, Any], event_type: str
) -> None:
    message = message_of(event_type)
    payload = validator_at(document, f"{message}/payload")
    errors = [
        e.message[:200] for e in payload.iter_errors(envelope(event_type, EXAMPLES[event_type]))
    ]
    assert errors == []
    (example,) = resolve(document, message)["examples"]
    assert example["payload"]["data"] == EXAMPLES[event_type]
    assert payload.is_valid(example["payload"])
    headers = validator_at(document, f"{message}/headers")
    assert headers.is_valid(example["headers"])
    assert not headers.is_valid({**example["headers"], "ce_type": "iop.other.event"})


def test_message_schemas_refuse_what_the_contract_refuses(document: dict[str, Any]) -> None:
    """The resolved schemas are not empty shells: a value out of range, a missing field and an
    event in another type's message are all refused."""
    requested = validator_at(document, f"{message_of('enrollment.requested')}/payload")
    example = EXAMPLES["iop.enrollment.requested"]
    assert not requested.is_valid(
        envelope("iop.enrollment.requested", {**example, "program_weeks": 99})
    )
    missing = {k: v for k, v in example.items() if k != "region_id"}
    assert not requested.is_valid(envelope("iop.enrollment.requested", missing))
    assert not requested.is_valid(
        envelope("iop.client.scheduled", EXAMPLES["iop.client.scheduled"])
    )


def test_iop_contracts_export_writes_this_document(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    export(tmp_path)
    assert json.loads((tmp_path / "asyncapi.json").read_text()) == json.loads(json.dumps(document))
    assert resolve(document, "#/defaultContentType") == CONTENT_TYPE
