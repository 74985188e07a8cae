"""Every CONTRACT.md example parses; invalid values are refused with the field named."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import (
    EVENT_TYPES,
    ContractError,
    EnrollmentRequested,
    GroupUpserted,
    SiteUpserted,
    parse_payload,
)
from iop_contracts.examples import ENROLLMENT, EXAMPLES, GROUP, SITE, THERAPIST

CONTRACT_MD = Path(__file__).resolve().parents[2].parent / "shared" / "CONTRACT.md"


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


@pytest.mark.skipif(not CONTRACT_MD.exists(), reason="shared/CONTRACT.md is not beside the repo")
def test_every_json_block_of_contract_md_is_a_valid_payload() -> None:
    blocks = re.findall(r"```json\n(.*?)```", CONTRACT_MD.read_text(), flags=re.S)
    payload_blocks = [json.loads(block) for block in blocks]
    # first match wins: a group names its site, so group_id is looked for before site_id
    by_shape: dict[str, Any] = {
        "group_id": GroupUpserted,
        "site_id": SiteUpserted,
        "client_id": EnrollmentRequested,
    }
    parsed = 0
    for block in payload_blocks:
        if "specversion" in block or "screening" in block:
            continue  # the envelope with a placeholder, and the screening fragment
        if "therapist_id" in block:
            parse_payload("iop.therapist.upserted", block)
        elif "schedule_version" in block:
            parse_payload("iop.client.scheduled", block)
        else:
            next(m for k, m in by_shape.items() if k in block).model_validate(block)
        parsed += 1
    assert parsed == 5


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
