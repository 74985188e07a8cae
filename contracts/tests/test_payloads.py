"""Every example parses, in code and in docs/contract.md; invalid values are refused with the
field named."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import (
    CONTENT_TYPE,
    EVENT_TYPES,
    CloudEvent,
    ContractError,
    EnrollmentRequested,
    GroupUpserted,
    SiteUpserted,
    encode_event,
    new_event,
    parse_payload,
)
from iop_contracts.contract_doc import refreshed
from iop_contracts.examples import ENROLLMENT, EXAMPLES, GROUP, SITE, THERAPIST

REPO = Path(__file__).resolve().parents[2]
CONTRACT_DOC = REPO / "docs" / "contract.md"


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_example_parses_and_dumps_back_to_the_same_json(event_type: str) -> None:
    payload = parse_payload(event_type, EXAMPLES[event_type])
    dumped = payload.model_dump(mode="json", exclude_unset=True)
    for key, value in EXAMPLES[event_type].items():
        if key == "weekly_hours":
            assert dumped[key] == pytest.approx(value)
        else:
            assert dumped[key] == value, key


def _doc_examples(document: str) -> dict[str, Any]:
    """Each JSON block of the document, under the event type named on the last line before it
    that holds nothing but an event type (`iop.client.scheduled`)."""
    examples: dict[str, Any] = {}
    named: str | None = None
    for match in re.finditer(
        r"^`(iop\.[a-z_]+\.[a-z_]+)`$|^```json\n(.*?)^```$", document, re.M | re.S
    ):
        event_type, block = match.groups()
        if event_type is not None:
            named = event_type
            continue
        assert named is not None and named not in examples, f"a JSON block after {named!r}"
        examples[named] = json.loads(block)
        named = None
    return examples


def test_every_json_block_of_the_contract_doc_is_a_valid_payload() -> None:
    examples = _doc_examples(CONTRACT_DOC.read_text(encoding="utf-8"))
    for event_type, block in examples.items():
        parse_payload(event_type, block)
    assert examples == EXAMPLES


def test_the_contract_doc_is_in_step_with_the_code() -> None:
    document = CONTRACT_DOC.read_text(encoding="utf-8")
    assert refreshed(document) == document, (
        "docs/contract.md restates the code: python -m iop_contracts.contract_doc docs/contract.md"
    )


def test_the_contract_doc_names_the_wire_format_of_the_code() -> None:
    document = CONTRACT_DOC.read_text(encoding="utf-8")
    record = encode_event(
        new_event(parse_payload("iop.group.retired", {"group_id": "g"}), source="/t")
    )
    for name, _ in record.headers:
        assert f"`{name}`" in document
    assert f"`{CONTENT_TYPE}`" in document
    for attribute in CloudEvent.model_fields:
        assert f"| `{attribute}` |" in document, attribute


def test_site_windows_default_to_weekday_evenings_and_weekends() -> None:
    site = SiteUpserted.model_validate({k: v for k, v in SITE.items() if k != "windows"})
    days = {w.day.value: (w.start, w.end) for w in site.windows}
    assert days["mon"] == ("17:00", "21:30")
    assert days["sun"] == ("08:00", "18:00")
    assert len(site.windows) == 7


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(base)
    target = changed
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[leaf]
    else:
        target[leaf] = value
    return changed


_DELETE = object()

INVALID = [
    ("iop.enrollment.requested", ENROLLMENT, "program_weeks", 1, "program_weeks"),
    ("iop.enrollment.requested", ENROLLMENT, "program_weeks", 17, "program_weeks"),
    ("iop.enrollment.requested", ENROLLMENT, "availability.0.start", "25:00", "availability.0"),
    ("iop.enrollment.requested", ENROLLMENT, "availability.0.end", "17:00", "availability.0"),
    ("iop.enrollment.requested", ENROLLMENT, "availability.0.day", "monday", "availability.0.day"),
    ("iop.enrollment.requested", ENROLLMENT, "track", "detox", "track"),
    ("iop.enrollment.requested", ENROLLMENT, "priority", "vip", "priority"),
    ("iop.enrollment.requested", ENROLLMENT, "requested_start", "01/12/2026", "requested_start"),
    ("iop.enrollment.requested", ENROLLMENT, "contact.email", "not-an-address", "contact.email"),
    ("iop.enrollment.requested", ENROLLMENT, "contact.phone", "617-555-0101", "contact.phone"),
    ("iop.enrollment.requested", ENROLLMENT, "client_id", "a b/c", "client_id"),
    ("iop.enrollment.requested", ENROLLMENT, "region_id", _DELETE, "region_id"),
    ("iop.group.upserted", GROUP, "capacity", 0, "capacity"),
    ("iop.group.upserted", GROUP, "sessions", [], "sessions"),
    ("iop.group.upserted", GROUP, "delivery", "zoom", "delivery"),
    ("iop.site.upserted", SITE, "timezone", "Mars/Olympus_Mons", "timezone"),
    ("iop.therapist.upserted", THERAPIST, "max_caseload", -1, "max_caseload"),
    ("iop.therapist.upserted", THERAPIST, "languages", [], "languages"),
]  # fmt: skip


@pytest.mark.parametrize(("event_type", "base", "path", "value", "field"), INVALID)
def test_invalid_value_is_refused_naming_the_field(
    event_type: str, base: dict[str, Any], path: str, value: Any, field: str
) -> None:
    with pytest.raises(ContractError) as refused:
        parse_payload(event_type, _with(base, path, value))
    assert f"data.{field}" in str(refused.value)


def test_overlapping_group_sessions_are_refused() -> None:
    sessions = [{"day": "mon", "start": "18:00", "end": "21:00"},
                {"day": "mon", "start": "20:00", "end": "21:30"}]  # fmt: skip
    with pytest.raises(ContractError, match=r"data\.sessions"):
        parse_payload("iop.group.upserted", {**GROUP, "sessions": sessions})


def test_consent_without_an_address_is_refused() -> None:
    contact = {"first_name": "Ana", "sms_consent": True}
    with pytest.raises(ContractError, match=r"data\.contact"):
        parse_payload("iop.enrollment.requested", {**ENROLLMENT, "contact": contact})


@pytest.mark.parametrize(
    "email", ["ana.secret@@example.org", "ana.secret@exa_mple", "ana secret@example.org"]
)
def test_error_messages_never_repeat_personal_values(email: str) -> None:
    contact = {"first_name": "Ana", "email": email, "phone": "+1617"}
    with pytest.raises(ContractError) as refused:
        parse_payload("iop.enrollment.requested", {**ENROLLMENT, "contact": contact})
    message = str(refused.value)
    assert "data.contact.email" in message
    assert "data.contact.phone" in message
    for fragment in ("ana", "secret", "exa_mple", "+1617", "@"):
        assert fragment not in message


def test_aiokafka_debug_logging_is_capped_so_record_values_stay_out_of_logs() -> None:
    import logging

    from iop_contracts.logs import configure_logging

    root, aiokafka = logging.getLogger(), logging.getLogger("aiokafka")
    saved = (root.handlers[:], root.level, aiokafka.level)
    configure_logging("test", "DEBUG")
    try:
        assert not aiokafka.isEnabledFor(logging.DEBUG)
        assert logging.getLogger("iop").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        aiokafka.setLevel(saved[2])


def test_contact_repr_is_redacted() -> None:
    enrollment = EnrollmentRequested.model_validate(ENROLLMENT)
    assert "ana@example.org" not in repr(enrollment.contact)
    assert "Ana" not in str(enrollment.contact)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    payload = parse_payload("iop.group.upserted", {**GROUP, "room": "4B"})
    assert isinstance(payload, GroupUpserted)
    assert "room" not in payload.model_dump()
