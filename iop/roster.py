"""Publish a network's roster (sites, groups, therapists) from a YAML file to `iop.roster.v1`."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer
from iop_contracts import (
    CloudEvent,
    ContractError,
    GroupRetired,
    GroupUpserted,
    Payload,
    SiteUpserted,
    TherapistRetired,
    TherapistUpserted,
    encode_event,
    new_event,
    parse_payload,
)
from iop_contracts.kafka import KafkaTarget, client_options
from iop_contracts.operator_errors import EXIT_BAD_INPUT, OperatorError

SOURCE = "/iop/roster-load"

_SECTIONS: dict[str, type[Payload]] = {
    "sites": SiteUpserted,
    "groups": GroupUpserted,
    "therapists": TherapistUpserted,
    "retired_groups": GroupRetired,
    "retired_therapists": TherapistRetired,
}


class RosterFileError(OperatorError, ValueError):
    """The roster file is not a valid roster; the message names the entry and the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_BAD_INPUT)


def roster_events(document: Mapping[str, Any]) -> list[CloudEvent]:
    """Events for every entry of a roster document, sites first so that groups find their site."""
    unknown = set(document) - set(_SECTIONS)
    if unknown:
        raise RosterFileError(f"unknown sections: {', '.join(sorted(unknown))}")
    events = []
    for section, payload_type in _SECTIONS.items():
        for index, entry in enumerate(document.get(section) or []):
            if isinstance(entry, str) and payload_type in (GroupRetired, TherapistRetired):
                entry = {payload_type.subject_field: entry}
            try:
                payload = parse_payload("iop." + payload_type.event_name, entry)
            except ContractError as error:
                raise RosterFileError(f"{section}[{index}]: {error}") from None
            events.append(new_event(payload, source=SOURCE))
    return events


def load_roster_file(path: Path) -> list[CloudEvent]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RosterFileError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise RosterFileError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as error:
        raise RosterFileError(f"{path}: not valid YAML{_where(error)}") from None
    if not isinstance(document, dict):
        raise RosterFileError(f"{path}: expected a mapping with sites, groups and therapists")
    return roster_events(document)


def _where(error: yaml.YAMLError) -> str:
    """Line and column of a YAML error; PyYAML's own text quotes the line, which may hold a
    therapist's name."""
    mark = getattr(error, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


async def publish_events(kafka: KafkaTarget, events: list[CloudEvent]) -> None:
    """Publish in order and return once every record is acknowledged (acks=all); `kafka` is the
    settings, or an address that connects with the environment's security settings."""
    producer = AIOKafkaProducer(**client_options(kafka), acks="all")
    await producer.start()
    try:
        for event in events:
            record = encode_event(event)
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()
