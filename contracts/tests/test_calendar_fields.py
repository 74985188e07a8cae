"""The dated calendar's part of the contract: optional `closed_dates`, `absences` and `cancelled`
(absent means none), and `facilitator.substituted` on `iop.staffing.v1`. Dates are refused
outside the contract's window, and the shapes that make no sense are refused with the field."""

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from iop_contracts import (
    TODAY_ENV,
    ClientRescheduled,
    ContractError,
    FacilitatorSubstituted,
    SiteUpserted,
    TherapistUpserted,
    date_window,
    encode_event,
    new_event,
    parse_payload,
    topics,
)
from iop_contracts.examples import EXAMPLES, SCHEDULED, SITE, THERAPIST

TODAY = date(2026, 11, 30)
DAY = timedelta(days=1)
SUBSTITUTED = EXAMPLES["iop.facilitator.substituted"]


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(TODAY_ENV, TODAY.isoformat())
    yield


def _without(example: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in example.items() if k != field}


def test_the_optional_fields_default_to_nothing_cancelled_closed_or_absent() -> None:
    assert SiteUpserted.model_validate(_without(SITE, "closed_dates")).closed_dates == []
    assert TherapistUpserted.model_validate(_without(THERAPIST, "absences")).absences == []
    assert ClientRescheduled.model_validate(SCHEDULED).cancelled == []


def test_closed_dates_and_absences_are_dates_of_the_window() -> None:
    window = date_window()
    for outside in (window.first - DAY, window.last + DAY):
        with pytest.raises(ContractError, match=r"^data\.closed_dates\.0: "):
            parse_payload("iop.site.upserted", {**SITE, "closed_dates": [outside.isoformat()]})
        span = {"start_date": outside.isoformat(), "end_date": outside.isoformat()}
        with pytest.raises(ContractError, match=r"^data\.absences\.0\.start_date: "):
            parse_payload("iop.therapist.upserted", {**THERAPIST, "absences": [span]})


def test_an_absence_ends_on_or_after_its_start() -> None:
    one_day = {"start_date": "2026-12-21", "end_date": "2026-12-21"}
    therapist = TherapistUpserted.model_validate({**THERAPIST, "absences": [one_day]})
    assert therapist.absences[0].covers(date(2026, 12, 21))
    assert not therapist.absences[0].covers(date(2026, 12, 22))
    backwards = {"start_date": "2026-12-22", "end_date": "2026-12-21"}
    with pytest.raises(ContractError, match=r"^data\.absences\.0: .*end_date"):
        parse_payload("iop.therapist.upserted", {**THERAPIST, "absences": [backwards]})


def _cancelled(*entries: tuple[str, str, str]) -> dict[str, Any]:
    rows = [{"date": d, "kind": k, "reason": r} for d, k, r in entries]
    return {**SCHEDULED, "schedule_version": 2, "cancelled": rows}


def test_cancelled_lies_inside_the_programme_once_per_date_and_kind() -> None:
    first, last = SCHEDULED["start_date"], SCHEDULED["end_date"]
    inside = _cancelled((first, "group", "site_closed"), (last, "individual", "no_cover"))
    payload = parse_payload("iop.client.rescheduled", inside)
    assert isinstance(payload, ClientRescheduled) and len(payload.cancelled) == 2
    before = (date.fromisoformat(first) - DAY).isoformat()
    with pytest.raises(ContractError, match="between start_date and end_date"):
        parse_payload("iop.client.rescheduled", _cancelled((before, "group", "site_closed")))
    twice = _cancelled((first, "group", "site_closed"), (first, "group", "no_cover"))
    with pytest.raises(ContractError, match="once"):
        parse_payload("iop.client.rescheduled", twice)
    both_kinds = _cancelled((first, "group", "site_closed"), (first, "individual", "site_closed"))
    parse_payload("iop.client.rescheduled", both_kinds)


@pytest.mark.parametrize(("field", "value"), [("kind", "makeup"), ("reason", "weather")])
def test_cancelled_kinds_and_reasons_are_closed_sets(field: str, value: str) -> None:
    entry = {"date": SCHEDULED["start_date"], "kind": "group", "reason": "site_closed"}
    data = {**SCHEDULED, "cancelled": [{**entry, field: value}]}
    with pytest.raises(ContractError, match=rf"^data\.cancelled\.0\.{field}: "):
        parse_payload("iop.client.scheduled", data)


def test_a_substitution_goes_to_the_staffing_topic_keyed_by_group() -> None:
    payload = parse_payload("iop.facilitator.substituted", SUBSTITUTED)
    assert isinstance(payload, FacilitatorSubstituted)
    record = encode_event(new_event(payload, source="/iop/scheduler"))
    assert record.topic == topics.STAFFING == "iop.staffing.v1"
    assert record.key == f"group:{SUBSTITUTED['group_id']}".encode()
    assert topics.CONFIGS[topics.STAFFING] == {"retention.ms": "-1"}
    assert topics.dlq(topics.STAFFING) in topics.ALL_TOPICS


def test_a_substitute_is_someone_else_on_a_date_of_the_window() -> None:
    with pytest.raises(ContractError, match="differ"):
        parse_payload("iop.facilitator.substituted", {**SUBSTITUTED, "facilitator_id": "t-017"})
    beyond = date_window(derived=True).last + DAY
    with pytest.raises(ContractError, match=r"^data\.date: "):
        parse_payload("iop.facilitator.substituted", {**SUBSTITUTED, "date": beyond.isoformat()})
