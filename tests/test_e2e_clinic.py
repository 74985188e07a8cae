"""End to end for the clinic (issue 12): attendance, hours at risk, a make-up and its invite,
the compliance CSV and the keys' scope, with the four services as processes on a real broker
and the SMTP sink.

Driven only through Kafka (roster) and HTTP (intake's enrollments, the clinic's attendance,
make-up and reports); checked only through Kafka (attendance, schedule, staffing, roster,
enrollment and notification topics), the clinic's HTTP answers and the sink's mailbox.

Time. The system starts with IOP_TODAY pinned to the day the module starts (every service
inherits it), and the sample's sixty enrollments start three days later. One client's first
full week of programme is then chosen from what the scheduler answered; the scheduler and the
clinic restart with IOP_TODAY moved to that client's second group day of that week, so that
attendance can be recorded for the days before (a record may not lie ahead of today) and a
make-up still has days left. Intake and the notifier keep the first day (neither reads today
for anything this module checks; the notifier's clock for sending is the real one, which lies
before every session here). Every date is built from what the system answered.

The clinic's alert clock is set to look only once an hour: every alert this module sees is
then published by the clinic's attendance consumer as it reads a record back from the topic
(one partition per client, read in order). A record is in the clinic's read model as soon as
its POST is answered, so an alert may come while an earlier record is read; what says that the
consumer has read them all is an alert caused by a later record in the same partition (see
judged_all_before).

The tests run in file order on one system; each reads the state it starts from.
"""

import asyncio
import csv
import email
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from aiokafka.partitioner import DefaultPartitioner
from iop_contracts import CloudEvent, topics, week_days, week_of
from iop_contracts.access import key_digest
from iop_scheduler.solver import validate_output

from iop.demo import drive, sample, scheduler_settled, shifted
from iop.observe import latest_by_subject, read_all, read_events
from iop.roster import publish_events, roster_events
from iop.system import System, SystemSettings
from tests.independent.checker import check

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLACED = {"iop.client.scheduled", "iop.client.rescheduled"}
MAKEUP_ANSWERS = {"iop.client.makeup_scheduled", "iop.client.makeup_unavailable"}
RECORDED = "iop.attendance.recorded"
AT_RISK = "iop.client.hours_at_risk"
ALERT = "iop.client.attendance_alert"
# SCHEDULING.md, "Hours that count": the level of care's weekly minimum, in minutes.
MINIMUM_MINUTES = {"adult": 9 * 60, "adolescent": 6 * 60}
NETWORK_KEY = "network"
# What the seeded roll calls and individual sessions record, in turn (see seed_week).
GROUP_STATUSES = ("present", "late", "absent", "left_early", "excused")
INDIVIDUAL_STATUSES = ("present", "absent", "late")


@dataclass
class Clinic:
    """The running system, what it was given, and the client, week and days chosen."""

    system: System
    network: dict[str, Any]
    enrollments: list[dict[str, Any]]
    keys: dict[str, str]  # a raw API key per site id, and one for the network
    client_id: str
    week: str
    first_group_day: date  # the client's first group day of the week: the missed session
    today: date  # the client's second group day of the week: IOP_TODAY after the restart

    def headers(self, key: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[key]}

    def url(self, path: str) -> str:
        return self.system.url("clinic", path)

    def contact(self, client_id: str) -> dict[str, Any]:
        return next(e["contact"] for e in self.enrollments if e["client_id"] == client_id)


# ------------------------------------------------------------------ dates and minutes


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def week_dates(week: str) -> list[date]:
    monday = week_days(week)[0]
    return [monday + timedelta(days=n) for n in range(7)]


def in_programme(schedule: Mapping[str, Any], day: date) -> bool:
    start, end = (
        date.fromisoformat(schedule["start_date"]),
        date.fromisoformat(schedule["end_date"]),
    )
    return start <= day <= end


def group_minutes_on(schedule: Mapping[str, Any], day: date) -> int:
    """The minutes of the client's group sessions on ``day`` (0: the group does not meet)."""
    weekday = DAYS[day.weekday()]
    return sum(
        minutes(s["end"]) - minutes(s["start"])
        for s in schedule["group"]["sessions"]
        if s["day"] == weekday
    )


def individual_minutes_on(schedule: Mapping[str, Any], day: date) -> int:
    individual = schedule["individual"]
    if individual["day"] != DAYS[day.weekday()]:
        return 0
    return minutes(individual["end"]) - minutes(individual["start"])


def cancelled_kinds(schedule: Mapping[str, Any], day: date) -> set[str]:
    return {c["kind"] for c in schedule.get("cancelled", []) if c["date"] == day.isoformat()}


# ------------------------------------------------------------------ choosing the client


def first_full_week(schedule: Mapping[str, Any]) -> list[date] | None:
    """The first Monday-to-Sunday that lies wholly in the client's programme."""
    monday = date.fromisoformat(schedule["start_date"])
    while monday.weekday() != 0:
        monday += timedelta(days=1)
    days = [monday + timedelta(days=n) for n in range(7)]
    return days if in_programme(schedule, days[-1]) else None


def regular_minutes(schedule: Mapping[str, Any], days: Iterable[date]) -> int:
    return sum(group_minutes_on(schedule, d) + individual_minutes_on(schedule, d) for d in days)


Journey = tuple[str, list[date], date, date]
"""The client, the days of their week, and their first and second group day of it."""


def journeys(
    placed: Mapping[str, dict[str, Any]], profiles: Mapping[str, dict[str, Any]]
) -> Iterator[Journey]:
    """Clients who take email, whose first full week nothing cancels up to its end, whose
    group meets at least twice that week, and for whom missing the first of those meetings
    alone puts the week's minimum out of reach."""
    for client_id in sorted(placed):
        schedule, profile = placed[client_id], profiles[client_id]
        contact = profile["contact"]
        days = first_full_week(schedule)
        if not (contact["email"] and contact["email_consent"]) or days is None:
            continue
        if any(date.fromisoformat(c["date"]) <= days[-1] for c in schedule.get("cancelled", [])):
            continue
        group_days = [d for d in days if group_minutes_on(schedule, d)]
        regular = regular_minutes(schedule, days)
        minimum = min(MINIMUM_MINUTES[profile["population"]], regular)
        if len(group_days) >= 2 and regular - group_minutes_on(schedule, group_days[0]) < minimum:
            yield client_id, days, group_days[0], group_days[1]


def choose(
    placed: Mapping[str, dict[str, Any]],
    enrollments: list[dict[str, Any]],
    groups: list[dict[str, Any]],
) -> Journey:
    """The first journey whose week likely has room for a make-up (so that the invite is what
    the make-up test sees; the checkers judge whatever the scheduler answers), else the first."""
    profiles = {e["client_id"]: e for e in enrollments}
    found = list(journeys(placed, profiles))
    assert found, "no placed client fits the journey; the sample changed?"
    for journey in found:
        client_id, days, _, today = journey
        later = [d for d in days if d >= today]
        if makeup_likely(profiles[client_id], client_id, placed, groups, later):
            return journey
    return found[0]


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def own_sessions(schedule: Mapping[str, Any], day: date) -> list[tuple[int, int]]:
    weekday = DAYS[day.weekday()]
    sessions = [s for s in schedule["group"]["sessions"] if s["day"] == weekday]
    if schedule["individual"]["day"] == weekday:
        sessions.append(schedule["individual"])
    return [(minutes(s["start"]), minutes(s["end"])) for s in sessions]


def reachable(profile: Mapping[str, Any], group: Mapping[str, Any]) -> bool:
    """Rules 1 and 2 as far as a guess needs them: the group's gender rule admits the client,
    and it meets at a site they asked for, or online when they accept telehealth."""
    genders = {"any", {"woman": "women", "man": "men"}.get(profile["gender"], "any")}
    if group["gender"] not in genders:
        return False
    if group["delivery"] == "telehealth":
        return bool(profile["accepts_telehealth"])
    return group["site_id"] in profile["preferred_site_ids"]


def makeup_likely(
    profile: Mapping[str, Any],
    client_id: str,
    placed: Mapping[str, dict[str, Any]],
    groups: list[dict[str, Any]],
    days: list[date],
) -> bool:
    """Another group of the client's track, population and language that they can reach,
    that some client attends on one of ``days``, with a session there inside their
    availability and clear of their own sessions. A guess that picks the journey, no more."""
    own = placed[client_id]
    for group in groups:
        kind = tuple(group[k] for k in ("track", "population", "language"))
        if group["group_id"] == own["group"]["group_id"] or kind != tuple(
            profile[k] for k in ("track", "population", "language")
        ):
            continue
        if not reachable(profile, group):
            continue
        for day in days:
            held = any(
                s["group"]["group_id"] == group["group_id"] and in_programme(s, day)
                for s in placed.values()
            )
            free = [
                (minutes(w["start"]), minutes(w["end"]))
                for w in profile["availability"]
                if w["day"] == DAYS[day.weekday()]
            ]
            for session in group["sessions"]:
                if not held or session["day"] != DAYS[day.weekday()]:
                    continue
                span = (minutes(session["start"]), minutes(session["end"]))
                inside = any(f[0] <= span[0] and span[1] <= f[1] for f in free)
                if inside and not any(overlaps(span, o) for o in own_sessions(own, day)):
                    return True
    return False


# ------------------------------------------------------------------ the system


def api_keys(network: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """A raw key per site (its staff: that site only) and one for the network, and the
    CLINIC_API_KEYS value that holds their digests."""
    raw = {NETWORK_KEY: "clinic-e2e-network-key"}
    scopes: dict[str, dict[str, Any]] = {
        key_digest(raw[NETWORK_KEY]): {"name": "head-office", "network": True}
    }
    for site in network["sites"]:
        site_id = site["site_id"]
        raw[site_id] = f"clinic-e2e-{site_id}-key"
        scopes[key_digest(raw[site_id])] = {
            "name": f"{site_id}-desk",
            "regions": [site["region_id"]],
            "sites": [site_id],
        }
    return raw, json.dumps(scopes)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    start = date.today()
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"],
        start + timedelta(days=3),
    )  # fmt: skip
    keys, keys_setting = api_keys(network)
    clinic_env = {"CLINIC_API_KEYS": keys_setting, "CLINIC_ALERT_TICK_S": "3600"}
    settings = SystemSettings.isolated(tmp_path_factory.mktemp("iop"))
    settings.intake_auth_disabled, settings.clinic_auth_disabled = True, False
    system = System(settings)
    system.extra_env["clinic"] = clinic_env
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOP_TODAY", start.isoformat())  # the services inherit it
        system.start_infrastructure()
        try:
            asyncio.run(publish_events(system.kafka, roster_events(network)))
            system.start_services()
            first = asyncio.run(drive(system, network, enrollments))
            assert first.rejected == {} and first.findings == []
            placed = {c: e.data for c, e in first.schedule.items() if e.type in PLACED}
            client_id, days, first_day, today = choose(placed, enrollments, network["groups"])

            patch.setenv("IOP_TODAY", today.isoformat())
            system.restart_service("scheduler", {"IOP_TODAY": today.isoformat()})
            regions = {e["region_id"] for e in enrollments}
            asyncio.run(scheduler_settled(system, regions))
            system.restart_service("clinic", {**clinic_env, "IOP_TODAY": today.isoformat()})
            week = week_of(days[0])
            yield Clinic(system, network, enrollments, keys, client_id, week, first_day, today)
        finally:
            system.stop()


# ------------------------------------------------------------------ reading the system


def events_on(clinic: Clinic, topic: str) -> list[CloudEvent]:
    return asyncio.run(read_all(clinic.system.kafka, topic))


def wait_for(
    clinic: Clinic, topic: str, wanted: Callable[[CloudEvent], bool], what: str
) -> list[CloudEvent]:
    """Every event of ``topic`` once some event matches ``wanted`` (60 s at most)."""
    events = asyncio.run(
        read_events(clinic.system.kafka, topic, lambda found: any(map(wanted, found)), 60)
    )
    assert any(map(wanted, events)), what
    return events


def placed_schedules(clinic: Clinic) -> dict[str, dict[str, Any]]:
    """Each client's schedule that holds now: the latest placement on iop.schedule.v1 of the
    clients still placed (make-up answers are not placements)."""
    events = [e for e in events_on(clinic, topics.SCHEDULE) if e.type not in MAKEUP_ANSWERS]
    return {c: e.data for c, e in latest_by_subject(events).items() if e.type in PLACED}


def current_roster(clinic: Clinic) -> dict[str, dict[str, dict[str, Any]]]:
    """The latest payload per site, group and therapist on iop.roster.v1."""
    roster: dict[str, dict[str, dict[str, Any]]] = {"site": {}, "group": {}, "therapist": {}}
    for event in events_on(clinic, topics.ROSTER):
        kind = event.type.removeprefix("iop.").removesuffix(".upserted")
        if kind in roster:
            roster[kind][event.data[f"{kind}_id"]] = event.data
    return roster


def mailbox(clinic: Clinic) -> dict[str, EmailMessage]:
    messages = {}
    for path in sorted(Path(clinic.system.outbox).glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages[path.name] = parsed
    return messages


def calendars(message: EmailMessage) -> list[Any]:
    found: list[Any] = []
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found.append(icalendar.Calendar.from_ical(payload))
    return found


def record(clinic: Clinic, key: str, body: Mapping[str, Any]) -> httpx.Response:
    return httpx.post(clinic.url("/v1/attendance"), json=body, headers=clinic.headers(key))


def group_absence(clinic: Clinic, day: date, status: str = "absent") -> dict[str, Any]:
    return {"client_id": clinic.client_id, "date": day.isoformat(), "status": status}


# ------------------------------------------------------------------ a. hours at risk


def slots_left(schedule: Mapping[str, Any], days: Iterable[date], today: date) -> int:
    """The minutes of the client's sessions from ``today`` on."""
    return regular_minutes(schedule, [d for d in days if d >= today])


def test_a_missed_session_that_puts_the_week_out_of_reach_is_announced_once(
    clinic: Clinic,
) -> None:
    schedule = placed_schedules(clinic)[clinic.client_id]
    own_site = schedule["group"]["site_id"]
    population = next(
        e["population"] for e in clinic.enrollments if e["client_id"] == clinic.client_id
    )
    days = week_dates(clinic.week)

    missed = record(clinic, own_site, group_absence(clinic, clinic.first_group_day))
    assert missed.status_code == 201, missed.text
    cause = missed.json()["event_id"]

    def at_risk(event: CloudEvent) -> bool:
        return event.type == AT_RISK and event.subject == clinic.client_id

    events = wait_for(clinic, topics.ATTENDANCE, at_risk, "client.hours_at_risk is published")
    [announced] = [e for e in events if at_risk(e)]
    assert announced.causationid == cause, "caused by the absence that put the week out of reach"
    regular = regular_minutes(schedule, days)
    assert announced.data["week"] == clinic.week
    assert announced.data["attended_hours"] == 0
    assert announced.data["minimum_hours"] == round(
        min(MINIMUM_MINUTES[population], regular) / 60, 2
    )
    assert announced.data["remaining_scheduled_hours"] == round(
        slots_left(schedule, days, clinic.today) / 60, 2
    )

    # A correction (excused), the absence again, and a second absence in a row: the week stays
    # out of reach and is not announced again, and the two absences are alerted once.
    for body in (
        group_absence(clinic, clinic.first_group_day, "excused"),
        group_absence(clinic, clinic.first_group_day),
        group_absence(clinic, clinic.today),
    ):
        answer = record(clinic, own_site, body)
        assert answer.status_code == 201, answer.text
    judged_all_before(clinic, placed_schedules(clinic))

    mine = [e for e in events_on(clinic, topics.ATTENDANCE) if e.subject == clinic.client_id]
    assert [e.data["week"] for e in mine if e.type == AT_RISK] == [clinic.week], "exactly one"
    [alert] = [e for e in mine if e.type == ALERT]
    assert (alert.data["count"], alert.data["last_date"]) == (2, clinic.today.isoformat())


def partition_of(client_id: str) -> int:
    """The attendance partition of a client's records: keyed by client id (CONTRACT.md), with
    Kafka's default partitioner, as the clinic publishes them."""
    partitions = list(range(topics.PARTITIONS[topics.ATTENDANCE]))
    chosen: int = DefaultPartitioner()(client_id.encode(), partitions, partitions)
    return chosen


def out_of_reach_by_one_absence(schedule: Mapping[str, Any], population: str, day: date) -> bool:
    """Whether missing the group meeting of ``day`` alone puts its week out of reach: the
    sessions that week inside the programme, less those cancelled and that meeting, fall short
    of the minimum (the level of care's, at most what the week holds)."""
    days = [d for d in week_dates(week_of(day)) if in_programme(schedule, d)]
    regular = regular_minutes(schedule, days)
    gone = sum(
        (group_minutes_on(schedule, d) if "group" in cancelled_kinds(schedule, d) else 0)
        + (
            individual_minutes_on(schedule, d)
            if "individual" in cancelled_kinds(schedule, d)
            else 0
        )
        for d in days
    )
    minimum = min(MINIMUM_MINUTES[population], regular)
    return regular - gone - group_minutes_on(schedule, day) < minimum


def judged_all_before(clinic: Clinic, schedules: Mapping[str, dict[str, Any]]) -> None:
    """Wait until the clinic's attendance consumer has judged every record of the journey's
    client. A record is in the read model once stored, before the consumer reads it, so an
    alert may be caused by an earlier record than the one that made it due; what orders them
    is the partition. So: one absence of another client whose records share the partition,
    which alone puts a week of theirs out of reach, is announced once the consumer reaches it,
    after every record before it."""
    client_id, day = sentinel_absence(clinic, schedules)
    body = {"client_id": client_id, "date": day.isoformat(), "status": "absent"}
    answer = record(clinic, schedules[client_id]["group"]["site_id"], body)
    assert answer.status_code == 201, answer.text
    cause = answer.json()["event_id"]

    def announced(event: CloudEvent) -> bool:
        return event.type == AT_RISK and event.causationid == cause

    wait_for(clinic, topics.ATTENDANCE, announced, "the sentinel's week is announced")


def sentinel_absence(clinic: Clinic, schedules: Mapping[str, dict[str, Any]]) -> tuple[str, date]:
    """Another client in the journey's client's partition, and a group day up to today whose
    absence alone puts its week out of reach."""
    profiles = {e["client_id"]: e for e in clinic.enrollments}
    partition = partition_of(clinic.client_id)
    for client_id, schedule in sorted(schedules.items()):
        if client_id == clinic.client_id or partition_of(client_id) != partition:
            continue
        start = date.fromisoformat(schedule["start_date"])
        population = profiles[client_id]["population"]
        for day in (start + timedelta(days=n) for n in range((clinic.today - start).days + 1)):
            meets = group_minutes_on(schedule, day) > 0
            held = "group" not in cancelled_kinds(schedule, day)
            if meets and held and out_of_reach_by_one_absence(schedule, population, day):
                return client_id, day
    raise AssertionError("no client shares the partition with a week to put out of reach")


# ------------------------------------------------------------------ b. a make-up


def checked_by_both(
    clinic: Clinic, answer: CloudEvent, granted_before: list[dict[str, Any]]
) -> None:
    """Both rule checkers on a make-up answer, with the roster, the schedules, the substitutes
    and the make-ups granted before as read from the topics, as of the system's today."""
    roster = current_roster(clinic)
    schedules = list(placed_schedules(clinic).values())
    placed = {s["client_id"] for s in schedules}
    standing = {
        (e.data["group_id"], e.data["date"]): e.data for e in events_on(clinic, topics.STAFFING)
    }
    snapshot = {
        "sites": list(roster["site"].values()),
        "groups": list(roster["group"].values()),
        "therapists": list(roster["therapist"].values()),
        "enrollments": [e for e in clinic.enrollments if e["client_id"] in placed],
        "schedules": schedules,
        "makeups": granted_before,
        "substitutions": list(standing.values()),
        "as_of": clinic.today.isoformat(),
    }
    granted = answer.type == "iop.client.makeup_scheduled"
    output = {
        "scheduled": schedules,
        "waitlisted": [],
        "rescheduled": [],
        "makeups": [answer.data] if granted else [],
        "makeups_unavailable": [] if granted else [answer.data],
    }
    assert [str(f) for f in validate_output(snapshot, output)] == []
    assert check(snapshot, output) == []


def test_a_make_up_request_is_answered_under_rule_12_and_a_granted_one_invited_once(
    clinic: Clinic,
) -> None:
    address = clinic.contact(clinic.client_id)["email"]
    mail_before = set(mailbox(clinic))
    earlier = [
        e for e in events_on(clinic, topics.SCHEDULE) if e.type == "iop.client.makeup_scheduled"
    ]

    # Head office asks: a site key reaches a client only when it covers every site the client
    # is seen at, and the individual session may be at another site than the group.
    asked = httpx.post(
        clinic.url(f"/v1/clients/{clinic.client_id}/makeup"),
        json={"week": clinic.week},
        headers=clinic.headers(NETWORK_KEY),
    )
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["event_id"]

    def answers(event: CloudEvent) -> bool:
        return event.type in MAKEUP_ANSWERS and event.causationid == request_id

    events = wait_for(clinic, topics.SCHEDULE, answers, "the scheduler answers the request")
    [answer] = [e for e in events if answers(e)]
    assert answer.subject == clinic.client_id and answer.data["week"] == clinic.week
    checked_by_both(clinic, answer, [e.data for e in earlier])
    if answer.type == "iop.client.makeup_unavailable":
        assert answer.data["reasons"], "a refusal says why (both checkers found it true)"
        return

    made = answer.data
    day = date.fromisoformat(made["date"])
    assert clinic.today <= day <= week_dates(clinic.week)[-1]

    def invited(event: CloudEvent) -> bool:
        return (
            event.subject == clinic.client_id
            and event.data.get("purpose") == "makeup"
            and event.data.get("channel") == "email"
        )

    notes = wait_for(clinic, topics.NOTIFICATION, invited, "the notifier sends the invite")
    assert [e.type for e in notes if invited(e)] == ["iop.notification.sent"]
    arrived = [
        m for name, m in mailbox(clinic).items()
        if name not in mail_before and parseaddr(str(m["To"]))[1] == address
    ]  # fmt: skip
    [message] = arrived
    [calendar] = calendars(message)
    [vevent] = calendar.walk("VEVENT")
    assert "RRULE" not in vevent, "a one-off session"
    start = datetime.combine(day, datetime.strptime(made["start"], "%H:%M").time())
    assert vevent.decoded("DTSTART") == start.replace(tzinfo=ZoneInfo(made["timezone"]))


# ------------------------------------------------------------------ c. the compliance CSV


def members_on(
    schedules: Mapping[str, dict[str, Any]], group_id: str, day: date, leave_out: str
) -> list[str]:
    """The clients whose schedule seats them in the group that day, the meeting not cancelled
    for them (``leave_out``, the journey's client, records its own attendance)."""
    return sorted(
        c
        for c, s in schedules.items()
        if s["group"]["group_id"] == group_id
        and in_programme(s, day)
        and group_minutes_on(s, day)
        and "group" not in cancelled_kinds(s, day)
        and c != leave_out
    )


def roll_entry(client_id: str, index: int, session_minutes: int) -> dict[str, Any]:
    status = GROUP_STATUSES[index % len(GROUP_STATUSES)]
    entry: dict[str, Any] = {"client_id": client_id, "status": status}
    if status == "late":
        entry["minutes_attended"] = session_minutes - 30
    elif status == "left_early":
        entry["minutes_attended"] = session_minutes - 60
    return entry


def seed_week(clinic: Clinic, schedules: Mapping[str, dict[str, Any]]) -> int:
    """Record the week up to today through the clinic's API, each site's key for its own
    sessions: every group meeting's roll call (statuses in turn) and the individual sessions.
    How many records were stored."""
    days = [d for d in week_dates(clinic.week) if d <= clinic.today]
    groups = {s["group"]["group_id"]: s for s in schedules.values()}
    stored = 0
    with httpx.Client(base_url=clinic.url(""), timeout=30.0) as http:
        for day in days:
            for group_id, any_member in sorted(groups.items()):
                members = members_on(schedules, group_id, day, clinic.client_id)
                if not members:
                    continue
                length = group_minutes_on(any_member, day)
                roll = [roll_entry(c, i, length) for i, c in enumerate(members)]
                site = any_member["group"]["site_id"]
                url = f"/v1/occurrences/{group_id}/{day.isoformat()}/roll-call"
                answer = http.post(url, json=roll, headers=clinic.headers(site))
                assert answer.status_code == 201, (group_id, day, answer.text)
                stored += len(roll)
            stored += seed_individuals(clinic, http, schedules, day)
    return stored


def seed_individuals(
    clinic: Clinic, http: httpx.Client, schedules: Mapping[str, dict[str, Any]], day: date
) -> int:
    stored = 0
    for index, (client_id, s) in enumerate(sorted(schedules.items())):
        if (
            client_id == clinic.client_id
            or not in_programme(s, day)
            or not individual_minutes_on(s, day)
            or "individual" in cancelled_kinds(s, day)
        ):
            continue
        status = INDIVIDUAL_STATUSES[index % len(INDIVIDUAL_STATUSES)]
        body: dict[str, Any] = {"status": status}
        if status == "late":
            body["minutes_attended"] = individual_minutes_on(s, day) - 20
        url = f"/v1/clients/{client_id}/sessions/{day.isoformat()}/individual"
        answer = http.post(url, json=body, headers=clinic.headers(s["individual"]["site_id"]))
        assert answer.status_code == 201, (client_id, day, answer.text)
        stored += 1
    return stored


@dataclass
class Slot:
    day: date
    kind: str  # group | individual | makeup
    minutes: int
    cancelled: bool


def client_slots(
    schedule: Mapping[str, Any],
    makeups: Sequence[Mapping[str, Any]],
    days: list[date],
    closed: Mapping[str, set[str]],
) -> list[Slot]:
    """The client's sessions that week: group and individual meetings inside the programme,
    cancelled as the schedule's list says (or the site is closed), and make-ups (one slot per
    date, as attendance is recorded)."""
    slots = []
    for day in (d for d in days if in_programme(schedule, d)):
        gone = cancelled_kinds(schedule, day)
        sites = {k: schedule[k]["site_id"] for k in ("group", "individual")}
        for kind, length in (
            ("group", group_minutes_on(schedule, day)),
            ("individual", individual_minutes_on(schedule, day)),
        ):
            if length:
                shut = day.isoformat() in closed.get(sites[kind], set())
                slots.append(Slot(day, kind, length, kind in gone or shut))
        extra = sum(
            minutes(m["end"]) - minutes(m["start"]) for m in makeups if m["date"] == day.isoformat()
        )
        if extra:
            slots.append(Slot(day, "makeup", extra, False))
    return slots


def expected_row(
    slots: list[Slot], records: Mapping[tuple[str, str], dict[str, Any]], today: date, level: int
) -> dict[str, Any]:
    """A compliance row by SCHEDULING.md's hours that count, in minutes: every slot attended
    (its record's minutes), missed, cancelled, still to come (today on) or unrecorded."""
    attended = cancelled = remaining = unrecorded = 0
    for slot in slots:
        standing = records.get((slot.day.isoformat(), slot.kind))
        if slot.cancelled:
            cancelled += slot.minutes
        elif standing is not None:
            if standing["status"] in ("present", "late", "left_early"):
                attended += standing["minutes_attended"]
        elif slot.day >= today:
            remaining += slot.minutes
        else:
            unrecorded += slot.minutes
    regular = sum(s.minutes for s in slots if s.kind != "makeup")
    minimum = min(level, regular)
    return {
        "scheduled_hours": round(sum(s.minutes for s in slots) / 60, 2),
        "attended_hours": round(attended / 60, 2),
        "cancelled_hours": round(cancelled / 60, 2),
        "remaining_hours": round(remaining / 60, 2),
        "unrecorded_hours": round(unrecorded / 60, 2),
        "minimum_hours": round(minimum / 60, 2),
        "met": attended >= minimum,
        "at_risk": attended + remaining < minimum,
    }


def expected_compliance(clinic: Clinic) -> dict[str, dict[str, Any]]:
    """Each client's row for the week, computed from the published events only."""
    schedules = placed_schedules(clinic)
    closed = {s: set(v.get("closed_dates", [])) for s, v in current_roster(clinic)["site"].items()}
    profiles = {
        e.subject: e.data
        for e in events_on(clinic, topics.ENROLLMENT)
        if e.type == "iop.enrollment.requested"
    }
    makeups: dict[str, list[dict[str, Any]]] = {}
    for event in events_on(clinic, topics.SCHEDULE):
        if event.type == "iop.client.makeup_scheduled":
            makeups.setdefault(event.subject or "", []).append(event.data)
    records: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for event in events_on(clinic, topics.ATTENDANCE):
        if event.type == RECORDED:  # the latest record for a client, date and kind stands
            data = event.data
            records.setdefault(data["client_id"], {})[(data["date"], data["kind"])] = data
    rows = {}
    days = week_dates(clinic.week)
    for client_id, schedule in schedules.items():
        slots = client_slots(schedule, makeups.get(client_id, []), days, closed)
        if not slots:
            continue
        profile = profiles[client_id]
        level = MINIMUM_MINUTES[profile["population"]]
        row = expected_row(slots, records.get(client_id, {}), clinic.today, level)
        row["site_id"] = schedule["group"]["site_id"]
        row["first_name"] = profile["contact"]["first_name"]
        rows[client_id] = row
    return rows


def as_read(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row in the expected row's terms."""
    hours = ("scheduled", "attended", "cancelled", "remaining", "unrecorded", "minimum")
    read: dict[str, Any] = {f"{h}_hours": float(row[f"{h}_hours"]) for h in hours}
    read |= {flag: row[flag] == "true" for flag in ("met", "at_risk")}
    return read | {"site_id": row["site_id"], "first_name": row["first_name"]}


def makeups_known(clinic: Clinic) -> bool:
    """Whether the clinic's occurrences list every make-up of the week among their guests."""
    granted = [
        e.data
        for e in events_on(clinic, topics.SCHEDULE)
        if e.type == "iop.client.makeup_scheduled" and e.data["week"] == clinic.week
    ]
    for made in granted:
        url = clinic.url(f"/v1/sites/{made['site_id']}/occurrences?date={made['date']}")
        held = httpx.get(url, headers=clinic.headers(NETWORK_KEY)).json()
        if not any(made["client_id"] in o["makeups"] for o in held):
            return False
    return True


def test_the_compliance_csv_of_the_seeded_week_matches_hours_computed_from_the_events(
    clinic: Clinic,
) -> None:
    stored = seed_week(clinic, placed_schedules(clinic))
    assert stored >= 10, "the week holds sessions to record before today"
    deadline = time.monotonic() + 30
    while not makeups_known(clinic):  # the clinic reads the scheduler's answers as they come
        assert time.monotonic() < deadline, "the clinic knows the granted make-ups"
        time.sleep(0.5)

    report = httpx.get(
        clinic.url(f"/v1/reports/compliance.csv?week={clinic.week}"),
        headers=clinic.headers(NETWORK_KEY),
    )
    assert report.status_code == 200, report.text
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert {r["week"] for r in rows} == {clinic.week}
    got = {r["client_id"]: as_read(r) for r in rows}
    expected = expected_compliance(clinic)
    assert set(got) == set(expected), "one row per client with sessions that week"
    for client_id, row in expected.items():
        assert got[client_id] == row, client_id
    assert not got[clinic.client_id]["met"], "the journey's client missed two meetings"
    # Mid-week, the seeded statuses leave some weeks in reach and put others at risk.
    assert {r["at_risk"] for r in got.values()} == {True, False}
    assert any(r["attended_hours"] > 0 for r in got.values())
    for r in rows:
        assert (r["why_not"] == "") == (r["met"] == "true"), "an unmet week says why"


# ------------------------------------------------------------------ d. the keys' scope


def recorded_and_requested(clinic: Clinic) -> tuple[set[str], set[str]]:
    """The ids of every attendance record and every make-up request on the topics."""
    attendance = {e.id for e in events_on(clinic, topics.ATTENDANCE) if e.type == RECORDED}
    requests = {
        e.id for e in events_on(clinic, topics.ENROLLMENT) if e.type == "iop.makeup.requested"
    }
    return attendance, requests


def other_site(clinic: Clinic) -> str:
    """A site the client is never seen at (not their group's, individual session's or any
    make-up's), of their region when it has one: its staff share the region, not the site."""
    schedule = placed_schedules(clinic)[clinic.client_id]
    seen = {schedule["group"]["site_id"], schedule["individual"]["site_id"]}
    seen |= {
        e.data["site_id"]
        for e in events_on(clinic, topics.SCHEDULE)
        if e.type == "iop.client.makeup_scheduled" and e.subject == clinic.client_id
    }
    others = [s for s in clinic.network["sites"] if s["site_id"] not in seen]
    same_region = [s for s in others if s["region_id"] == schedule["region_id"]]
    return min(s["site_id"] for s in same_region or others)


def attempts(clinic: Clinic, http: httpx.Client, client_id: str) -> dict[str, httpx.Response]:
    """Every way to write or read one client's attendance, by client and by occurrence (their
    group's on the day they missed, and the site that holds it)."""
    schedule = placed_schedules(clinic)[clinic.client_id]
    day, week = clinic.first_group_day.isoformat(), clinic.week
    group_id, site = schedule["group"]["group_id"], schedule["group"]["site_id"]
    one = {"client_id": client_id, "date": day, "status": "absent"}
    return {
        "record": http.post("/v1/attendance", json=one),
        "roll call": http.post(
            f"/v1/occurrences/{group_id}/{day}/roll-call",
            json=[{"client_id": client_id, "status": "absent"}],
        ),
        "individual": http.post(
            f"/v1/clients/{client_id}/sessions/{day}/individual", json={"status": "absent"}
        ),
        "make-up": http.post(f"/v1/clients/{client_id}/makeup", json={"week": week}),
        "client": http.get(f"/v1/clients/{client_id}"),
        "occurrences": http.get(f"/v1/sites/{site}/occurrences?date={day}"),
        "compliance": http.get(f"/v1/compliance?site={site}&week={week}"),
        "compliance.csv": http.get(f"/v1/reports/compliance.csv?site={site}&week={week}"),
    }


def test_a_site_key_neither_reads_nor_writes_another_sites_attendance(clinic: Clinic) -> None:
    """Issue 12: 403, nothing published. By client, by occurrence and by named site alike; an
    unknown client gets the same answer as one at another site (nothing told of what exists
    elsewhere); the key's own report holds only its own site."""
    own = placed_schedules(clinic)[clinic.client_id]["group"]["site_id"]
    other = other_site(clinic)
    before = recorded_and_requested(clinic)
    with httpx.Client(base_url=clinic.url(""), headers=clinic.headers(other)) as http:
        refused = attempts(clinic, http, clinic.client_id)
        assert {what: r.status_code for what, r in refused.items()} == dict.fromkeys(refused, 403)
        unknown = http.post(
            "/v1/attendance",
            json={"client_id": "c-nobody", "date": clinic.today.isoformat(), "status": "absent"},
        )
        assert unknown.status_code == 403
        assert unknown.json()["title"] == refused["record"].json()["title"]
        report = http.get(f"/v1/reports/compliance.csv?week={clinic.week}")
        assert report.status_code == 200
        assert clinic.client_id not in report.text
        assert {r["site_id"] for r in csv.DictReader(io.StringIO(report.text))} <= {other}
    assert recorded_and_requested(clinic) == before, "nothing published"

    # The refusals were the scope: the network key reads the client, and the key of the site
    # holding the group meeting stores the same record. (A site key reads a client only when it
    # covers every site the client is seen at; a make-up elsewhere adds that site.)
    view = httpx.get(
        clinic.url(f"/v1/clients/{clinic.client_id}"), headers=clinic.headers(NETWORK_KEY)
    )
    assert view.status_code == 200
    stored = record(clinic, own, group_absence(clinic, clinic.first_group_day))
    assert stored.status_code == 201, stored.text
