"""Every date an event carries lies in the contract's window around today, both ends included;
a date outside it is a ContractError that names the field and the window, never the value."""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from iop_contracts import (
    SCHEDULE_REACH,
    TODAY_ENV,
    ClientScheduled,
    ContractError,
    EnrollmentRequested,
    TherapistRetired,
    date_window,
    decode_record,
    encode_event,
    new_event,
    parse_payload,
)
from iop_contracts.dates import clock_today
from iop_contracts.examples import ENROLLMENT, GROUP, SCHEDULED

TODAY = date(2026, 11, 30)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pin today so that a test never straddles midnight between building and checking a date."""
    monkeypatch.setenv(TODAY_ENV, TODAY.isoformat())
    yield


def _with(example: dict[str, Any], **dates: date) -> dict[str, Any]:
    return {**example, **{name: day.isoformat() for name, day in dates.items()}}


def test_the_window_runs_from_years_back_to_years_ahead_of_the_pinned_day() -> None:
    window = date_window()
    assert (window.first, window.last) == (date(2016, 11, 30), date(2028, 11, 30))
    assert date_window(derived=True).last == window.last + SCHEDULE_REACH
    assert date_window(derived=True).first == window.first


def test_a_leap_day_shifts_to_the_28th_in_a_year_without_one() -> None:
    window = date_window(date(2028, 2, 29))
    assert (window.first, window.last) == (date(2018, 2, 28), date(2030, 2, 28))


@pytest.mark.parametrize(
    ("event_type", "example", "field"),
    [
        ("iop.enrollment.requested", ENROLLMENT, "requested_start"),
        ("iop.group.upserted", GROUP, "open_from"),
    ],
)
def test_planned_dates_are_admitted_up_to_both_edges_and_refused_beyond(
    event_type: str, example: dict[str, Any], field: str
) -> None:
    window = date_window()
    for inside in (window.first, window.last):
        payload = parse_payload(event_type, _with(example, **{field: inside}))
        assert getattr(payload, field) == inside
    for outside in (window.first - DAY, window.last + DAY, date.max - DAY, date.min):
        with pytest.raises(ContractError) as refused:
            parse_payload(event_type, _with(example, **{field: outside}))
        message = str(refused.value)
        assert message.startswith(f"data.{field}: ")
        assert str(window) in message
        assert outside.isoformat() not in message


@pytest.mark.parametrize("event_type", ["iop.client.scheduled", "iop.client.rescheduled"])
def test_schedule_dates_may_reach_a_programme_beyond_the_planned_window(event_type: str) -> None:
    planned, derived = date_window(), date_window(derived=True)
    # The longest programme starting on the last admissible requested_start still fits.
    start = planned.last + timedelta(days=6)
    end = start + timedelta(weeks=16, days=-1)
    assert end <= derived.last
    payload = parse_payload(event_type, _with(SCHEDULED, start_date=start, end_date=end))
    assert isinstance(payload, ClientScheduled)
    assert (payload.start_date, payload.end_date) == (start, end)
    edge = parse_payload(event_type, _with(SCHEDULED, start_date=start, end_date=derived.last))
    assert isinstance(edge, ClientScheduled) and edge.end_date == derived.last
    for field, dates in (
        ("end_date", {"start_date": start, "end_date": derived.last + DAY}),
        ("start_date", {"start_date": derived.first - DAY, "end_date": start}),
    ):
        with pytest.raises(ContractError, match=rf"^data\.{field}: .*{derived}"):
            parse_payload(event_type, _with(SCHEDULED, **dates))


def test_the_overflowing_dates_seen_in_the_field_are_refused() -> None:
    with pytest.raises(ContractError, match="requested_start"):
        parse_payload("iop.enrollment.requested", {**ENROLLMENT, "requested_start": "9999-12-30"})
    with pytest.raises(ContractError, match="end_date"):
        parse_payload("iop.client.scheduled", {**SCHEDULED, "end_date": "9999-12-31"})


def _record(time: str) -> bytes:
    event = new_event(TherapistRetired(therapist_id="t-017"), source="/t")
    raw = json.loads(encode_event(event).value)
    return json.dumps({**raw, "time": time}).encode()


def test_the_envelope_time_lies_in_the_window_too() -> None:
    """The envelope's `time` is stamped by the producer's clock, so the window around the
    clock's own today admits it too while IOP_TODAY pins another day: outside means outside
    both (this test must pass on any real date, not only on the pinned one)."""
    window, clocked = date_window(), date_window(clock_today())
    assert decode_record(_record(f"{window.last.isoformat()}T23:59:59Z")).id
    assert decode_record(_record(f"{window.first.isoformat()}T00:00:00Z")).id
    later, earlier = max(window.last, clocked.last), min(window.first, clocked.first)
    for outside in (later + DAY, earlier - DAY):
        with pytest.raises(ContractError, match=rf"^time: .*{window}"):
            decode_record(_record(f"{outside.isoformat()}T12:00:00Z"))
    with pytest.raises(ContractError, match=r"^time: "):
        decode_record(_record("9999-12-31T23:59:59-05:00"))


def test_pinning_today_moves_the_window_for_payload_dates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    later = date(2031, 6, 1)
    body = _with(ENROLLMENT, requested_start=later)
    with pytest.raises(ContractError, match="requested_start"):
        parse_payload("iop.enrollment.requested", body)
    monkeypatch.setenv(TODAY_ENV, "2030-01-01")
    payload = parse_payload("iop.enrollment.requested", body)
    assert isinstance(payload, EnrollmentRequested) and payload.requested_start == later


def test_an_envelope_stamped_by_the_real_clock_decodes_whatever_day_is_pinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TODAY_ENV, "2001-01-01")
    real_now = datetime.now(UTC).replace(microsecond=0)
    record = encode_event(new_event(TherapistRetired(therapist_id="t-017"), source="/t"))
    assert decode_record(record.value).time.date() in {real_now.date(), real_now.date() + DAY}
    # ...while a payload date near the real today is judged by the pinned day.
    with pytest.raises(ContractError, match="requested_start"):
        parse_payload(
            "iop.enrollment.requested", _with(ENROLLMENT, requested_start=real_now.date())
        )


def test_a_malformed_iop_today_is_a_setup_error_not_a_bad_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TODAY_ENV, "tomorrow")
    with pytest.raises(RuntimeError, match=TODAY_ENV) as raised:
        parse_payload("iop.enrollment.requested", ENROLLMENT)
    assert not isinstance(raised.value, ContractError)


def test_the_json_schema_states_the_window() -> None:
    schema = EnrollmentRequested.model_json_schema()
    assert "years" in schema["properties"]["requested_start"]["description"]
