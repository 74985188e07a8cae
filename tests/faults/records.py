"""The malformed records the faults suite injects: every kind, for every input topic.

Each record is built from a valid event of its topic and broken in exactly one way, so that what
a consumer refuses is that one flaw and nothing else. Every record carries a ``fault_id`` header
(``<wave>/<topic>/<kind>``) and a key made from it: the dead-letter topics keep both, which is how
the suite finds each record there, once.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from iop_contracts import CloudEvent, Day, new_event, parse_payload, topics
from iop_contracts.envelope import CONTENT_TYPE

FAULT_HEADER = "fault_id"
INPUT_TOPICS = (
    topics.ROSTER,
    topics.REFERRAL,
    topics.ENROLLMENT,
    topics.SCHEDULE,
    topics.ATTENDANCE,
)
KINDS = (
    "nested_6001",
    "invalid_utf8",
    "wrong_schema",
    "unknown_type",
    "far_future_date",
    "far_past_date",
    "not_an_object",
)
NESTING = 6001
FAR_FUTURE = "9999-12-30"
FAR_PAST = "0001-01-02"
SOURCE = "/tests/faults"


@dataclass(frozen=True)
class BadRecord:
    wave: str
    topic: str
    kind: str
    value: bytes
    event_type: str

    @property
    def fault_id(self) -> str:
        return f"{self.wave}/{self.topic}/{self.kind}"

    @property
    def key(self) -> bytes:
        return f"fault:{self.fault_id}".encode()

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        """What a contract producer sends, plus the fault's name."""
        return [
            ("content-type", CONTENT_TYPE.encode()),
            ("ce_type", self.event_type.encode()),
            (FAULT_HEADER, self.fault_id.encode()),
        ]


def _screened(enrollment: Mapping[str, Any]) -> dict[str, Any]:
    screening = {
        "needs_medical_detox": False,
        "needs_24h_supervision": False,
        "imminent_risk": False,
        "medically_stable": True,
        "stable_living_environment": True,
        "prior_level": "none",
    }
    return {**enrollment, "screening": screening}


def referral_data(enrollment: Mapping[str, Any]) -> dict[str, Any]:
    """A referral that screening admits as it is (nothing rules IOP out, priority unchanged)."""
    return _screened(enrollment)


def _schedule_data(network: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    """A plausible ``client.scheduled`` payload for a client nobody enrolled."""
    group = next(g for g in network["groups"] if g["delivery"] == "in_person")
    site = next(s for s in network["sites"] if s["site_id"] == group["site_id"])
    therapist = next(t for t in network["therapists"] if group["site_id"] in t["site_ids"])
    start = date.fromisoformat(group["open_from"]) + timedelta(days=7)
    return {
        "client_id": client_id,
        "region_id": site["region_id"],
        "schedule_version": 1,
        "group": {
            "group_id": group["group_id"],
            "site_id": group["site_id"],
            "delivery": "in_person",
            "facilitator_id": therapist["therapist_id"],
            "sessions": group["sessions"],
        },
        "individual": {
            "therapist_id": therapist["therapist_id"],
            "delivery": "in_person",
            "site_id": group["site_id"],
            "day": "sat",
            "start": "09:00",
            "end": "10:00",
        },
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(weeks=8)).isoformat(),
        "weekly_hours": 10.0,
        "timezone": site["timezone"],
    }


def group_days(placement: Mapping[str, Any], first: date, last: date) -> list[date]:
    """The dates from ``first`` to ``last`` (both included) on which the placed client's group
    meets (``placement``: a ``client.scheduled`` payload)."""
    weekdays = {Day(s["day"]).weekday for s in placement["group"]["sessions"]}
    span = range((last - first).days + 1)
    return [d for d in (first + timedelta(days=n) for n in span) if d.weekday() in weekdays]


def absence_data(placement: Mapping[str, Any], day: date) -> dict[str, Any]:
    """A roll call's record that the placed client missed their group's session on ``day``."""
    return {
        "client_id": placement["client_id"],
        "region_id": placement["region_id"],
        "date": day.isoformat(),
        "kind": "group",
        "group_id": placement["group"]["group_id"],
        "therapist_id": None,
        "status": "absent",
        "minutes_attended": 0,
        "recorded_by": "faults-roll-call",
    }


def _first_session(placement: Mapping[str, Any]) -> date:
    start = date.fromisoformat(placement["start_date"])
    return group_days(placement, start, start + timedelta(days=6))[0]


def _base_events(
    network: Mapping[str, Any],
    enrollment: Mapping[str, Any],
    placement: Mapping[str, Any],
    name: str,
) -> dict[str, CloudEvent]:
    """One valid event per input topic, about entities of the fault's own (``name``); the
    attendance record is about a placed client, at a session the clinic expects them at, since
    an attendance record about anyone else is refused whole (not expected)."""
    group = {**network["groups"][0], "group_id": name}
    client = {**enrollment, "client_id": name}
    payloads = {
        topics.ROSTER: ("iop.group.upserted", group),
        topics.REFERRAL: ("iop.referral.submitted", referral_data(client)),
        topics.ENROLLMENT: ("iop.enrollment.requested", client),
        topics.SCHEDULE: ("iop.client.scheduled", _schedule_data(network, name)),
        topics.ATTENDANCE: (
            "iop.attendance.recorded",
            absence_data(placement, _first_session(placement)),
        ),
    }
    return {
        topic: new_event(parse_payload(event_type, data), source=SOURCE)
        for topic, (event_type, data) in payloads.items()
    }


DATE_FIELDS = {
    topics.ROSTER: ("open_from",),
    topics.REFERRAL: ("requested_start",),
    topics.ENROLLMENT: ("requested_start",),
    topics.SCHEDULE: ("start_date", "end_date"),
    topics.ATTENDANCE: ("date",),
}


def _envelope(event: CloudEvent, **changes: Any) -> dict[str, Any]:
    return {**event.model_dump(mode="json"), **changes}


def _dated(event: CloudEvent, topic: str, day: str) -> bytes:
    data = {**event.data, **dict.fromkeys(DATE_FIELDS[topic], day)}
    return json.dumps(_envelope(event, data=data)).encode()


def _nested(event: CloudEvent) -> bytes:
    """The envelope is level 1 and its data level 2; the lists inside reach level NESTING."""
    lists = NESTING - 2
    head = json.dumps(_envelope(event, data={"nested": None})).encode()
    return head.replace(b'"nested": null', b'"nested": ' + b"[" * lists + b"]" * lists)


def _broken(topic: str, kind: str, event: CloudEvent) -> bytes:
    valid = json.dumps(_envelope(event)).encode()
    if kind == "nested_6001":
        return _nested(event)
    if kind == "invalid_utf8":
        return valid.replace(b'"source": "', b'"source": "\xff\xfe\xc3\x28', 1)
    if kind == "wrong_schema":
        return json.dumps(_envelope(event, data={"items": [1, 2], "ok": True})).encode()
    if kind == "unknown_type":
        return json.dumps(_envelope(event, type="iop.fault.unheard_of")).encode()
    if kind == "far_future_date":
        return _dated(event, topic, FAR_FUTURE)
    if kind == "far_past_date":
        return _dated(event, topic, FAR_PAST)
    if kind == "not_an_object":
        return json.dumps([_envelope(event)]).encode()
    raise ValueError(kind)


def bad_records(
    wave: str,
    network: Mapping[str, Any],
    enrollment: Mapping[str, Any],
    placement: Mapping[str, Any],
) -> list[BadRecord]:
    """Every kind of malformed record for every input topic, named after ``wave``."""
    out = []
    for number, kind in enumerate(KINDS):
        events = _base_events(network, enrollment, placement, f"fault-{wave}-{number}")
        for topic in INPUT_TOPICS:
            event = events[topic]
            out.append(BadRecord(wave, topic, kind, _broken(topic, kind, event), event.type))
    return out
