"""JSON Schemas and the AsyncAPI document are generated from the models and describe them."""

import json
import subprocess
import sys
from pathlib import Path

from iop_contracts import EVENT_TYPES, topics
from iop_contracts.schemas import asyncapi_document, json_schemas


def test_one_schema_per_payload_with_its_dataschema_id() -> None:
    schemas = json_schemas()
    for event_type, payload in EVENT_TYPES.items():
        schema = schemas[payload.event_name]
        assert schema["$id"] == f"urn:iop:{payload.event_name}:1", event_type
        assert set(schema["required"]) <= set(schema["properties"])


def test_enrollment_schema_carries_the_strict_rules() -> None:
    schema = json_schemas()["enrollment.requested"]
    weeks = schema["properties"]["program_weeks"]
    assert (weeks["minimum"], weeks["maximum"]) == (2, 16)


def test_asyncapi_lists_every_topic_and_every_event() -> None:
    document = asyncapi_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(topics.ALL_TOPICS)  # the dead-letter topics too
    names = {message["name"] for message in document["components"]["messages"].values()}
    assert names == set(EVENT_TYPES) | {"dead_letter"}


def test_iop_contracts_export_writes_the_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "iop.cli", "contracts", "export", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    written = {Path(line).name for line in result.stdout.split()}
    assert "asyncapi.json" in written
    assert "enrollment.requested.schema.json" in written
    assert json.loads((tmp_path / "asyncapi.json").read_text())["asyncapi"] == "3.0.0"
