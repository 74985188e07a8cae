"""End to end on dates (rules 11 and 12): a site's closure, a facilitator's absence, and
programmes that end, with the three services as processes on a real broker and the SMTP sink.

Driven only through Kafka (roster) and HTTP (enrollments); checked only through Kafka (schedule,
staffing, notification and roster topics) and the sink's mailbox. The sample network and its
sixty enrollments start three days from date.today() (the sample's own holiday and weeks of
leave come along); every date a test uses is built from what the system answered, and the last
test restarts the scheduler with IOP_TODAY past some end dates. The tests run in file order on
one system: each reads the state it starts from, and the restart comes last.
"""

import asyncio
import email
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import CloudEvent, topics
from iop_scheduler.solver import validate_output
from iop_scheduler.solver.domain import Group, Therapist
from iop_scheduler.solver.rules import facilitator_can_hold, facilitator_credentialed

from iop.demo import drive, post_enrollments, sample, shifted
from iop.observe import latest_by_subject, read_all, read_events
from iop.roster import publish_events, roster_events
from iop.system import System, SystemSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLACED = {"iop.client.scheduled", "iop.client.rescheduled"}
ANSWERS = {*PLACED, "iop.client.waitlisted"}
PLACEMENT = ("group", "individual", "start_date", "end_date", "weekly_hours", "timezone")
TRAVEL_MINUTES = 30
# A sentinel per region: a newcomer whose answer comes after every settle the region's lane
# started before it, so once it is answered, what a change caused is all on the topic. Its
# profile (adult substance use, evenings, in person) never competes for the sample's small
# adolescent and telehealth groups.
SENTINEL_PROFILE = {"ne": "c-ne-001", "mw": "c-mw-034"}


@dataclass
class Journey:
    system: System
    network: dict[str, Any]
    enrollments: list[dict[str, Any]]
    sentinels: list[dict[str, Any]] = field(default_factory=list)

    @property
    def everyone(self) -> list[dict[str, Any]]:
        """The sample's enrollments and the sentinels enrolled since."""
        return [*self.enrollments, *self.sentinels]

    @property
    def clients(self) -> set[str]:
        return {e["client_id"] for e in self.everyone}

    def contact(self, client_id: str) -> dict[str, Any]:
        return next(e["contact"] for e in self.everyone if e["client_id"] == client_id)


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"],
        date.today() + timedelta(days=3),
    )  # fmt: skip
    system = System(SystemSettings.isolated(tmp_path_factory.mktemp("iop")))
    system.start_infrastructure()
    try:
        asyncio.run(publish_events(system.kafka, roster_events(network)))
        system.start_services()
        first = asyncio.run(drive(system, network, enrollments))
        assert first.rejected == {} and first.findings == []
        assert set(first.schedule) == {e["client_id"] for e in enrollments}
        yield Journey(system, network, enrollments)
    finally:
        system.stop()


# ------------------------------------------------------------------ reading the system


def schedule_events(journey: Journey) -> list[CloudEvent]:
    return asyncio.run(read_all(journey.system.kafka, topics.SCHEDULE))


def latest_answers(journey: Journey, events: Iterable[CloudEvent]) -> dict[str, CloudEvent]:
    """Each client's latest schedule event (the sample's and the sentinels')."""
    return {c: e for c, e in latest_by_subject(list(events)).items() if c in journey.clients}


def placed_now(latest: Mapping[str, CloudEvent]) -> dict[str, dict[str, Any]]:
    return {c: e.data for c, e in latest.items() if e.type in PLACED}


def current_roster(journey: Journey) -> dict[str, dict[str, dict[str, Any]]]:
    """The latest payload per site, group and therapist on iop.roster.v1."""
    roster: dict[str, dict[str, dict[str, Any]]] = {"site": {}, "group": {}, "therapist": {}}
    for event in asyncio.run(read_all(journey.system.kafka, topics.ROSTER)):
        kind = event.type.removeprefix("iop.").removesuffix(".upserted")
        if kind in roster:
            roster[kind][event.data[f"{kind}_id"]] = event.data
    return roster


def standing_substitutions(journey: Journey) -> dict[tuple[str, str], CloudEvent]:
    """The latest facilitator.substituted per group and date."""
    events = asyncio.run(read_all(journey.system.kafka, topics.STAFFING))
    return {(e.data["group_id"], e.data["date"]): e for e in events}


def mailbox(journey: Journey) -> dict[str, EmailMessage]:
    messages = {}
    for path in sorted(Path(journey.system.outbox).glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages[path.name] = parsed
    return messages


def exdates(message: EmailMessage) -> list[date]:
    """Every EXDATE value of the message's calendar, as local dates."""
    found: list[date] = []
    for part in message.walk():
        if part.get_content_type() != "text/calendar":
            continue
        assert isinstance(part, EmailMessage)
        unfolded = re.sub(r"\r?\n[ \t]", "", part.get_content())
        for line in unfolded.splitlines():
            if line.startswith("EXDATE"):
                values = line.split(":", 1)[1].split(",")
                found += [date(int(v[:4]), int(v[4:6]), int(v[6:8])) for v in values]
    return found


def post_sentinel(journey: Journey, region_id: str) -> str:
    """Enroll one newcomer in the region and wait for its answer (see SENTINEL_PROFILE)."""
    n = len(journey.sentinels) + 1
    profile = next(e for e in journey.enrollments if e["client_id"] == SENTINEL_PROFILE[region_id])
    client_id = f"c-{region_id}-s{n:02}"
    contact = {
        "first_name": "Alex", "email": f"sentinel.{n}@example.org", "phone": None,
        "email_consent": True, "sms_consent": False,
    }  # fmt: skip
    enrollment = {**profile, "client_id": client_id, "contact": contact}
    assert asyncio.run(post_enrollments(journey.system.url("intake"), [enrollment])) == {}
    journey.sentinels.append(enrollment)

    def answered(events: list[CloudEvent]) -> bool:
        return any(e.subject == client_id and e.type in ANSWERS for e in events)

    events = asyncio.run(read_events(journey.system.kafka, topics.SCHEDULE, answered, 60))
    assert answered(events), "the sentinel is answered"
    return client_id


def wait_for_schedule(
    journey: Journey, done: Callable[[list[CloudEvent]], bool], what: str
) -> None:
    events = asyncio.run(read_events(journey.system.kafka, topics.SCHEDULE, done, 60))
    assert done(events), what


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def recipient(message: EmailMessage) -> str:
    return parseaddr(str(message["To"]))[1]


def wait_for_email_outcomes(journey: Journey, told: set[tuple[str, int]]) -> list[CloudEvent]:
    """Notification events until each (client, version) has its email outcome."""

    def outcomes(events: list[CloudEvent]) -> set[tuple[str, int]]:
        return {
            (e.subject or "", e.data.get("schedule_version", 0))
            for e in events
            if e.data.get("channel") == "email"
        }

    events = asyncio.run(
        read_events(
            journey.system.kafka, topics.NOTIFICATION, lambda found: told <= outcomes(found), 60
        )
    )
    assert told <= outcomes(events), "every schedule event told is answered by the notifier"
    return events


def publish(journey: Journey, document: Mapping[str, Any]) -> CloudEvent:
    [event] = roster_events(document)
    asyncio.run(publish_events(journey.system.kafka, [event]))
    return event


# ------------------------------------------------------------------ dates of a schedule


def runs_on(schedule: Mapping[str, Any], day: date) -> bool:
    return (
        date.fromisoformat(schedule["start_date"])
        <= day
        <= date.fromisoformat(schedule["end_date"])
    )


def cancelled_on(schedule: Mapping[str, Any], day: date, kind: str) -> bool:
    return any(
        c["date"] == day.isoformat() and c["kind"] == kind for c in schedule.get("cancelled", [])
    )


def absent(therapist: Mapping[str, Any], day: date) -> bool:
    return any(
        date.fromisoformat(a["start_date"]) <= day <= date.fromisoformat(a["end_date"])
        for a in therapist.get("absences", [])
    )


def closure_entries(schedule: Mapping[str, Any], site_id: str, day: date) -> list[dict[str, str]]:
    """What closing ``site_id`` on ``day`` cancels of this schedule (rule 11, computed here)."""
    weekday = DAYS[day.weekday()]
    if not runs_on(schedule, day):
        return []
    group, individual = schedule["group"], schedule["individual"]
    entries = []
    if group["site_id"] == site_id and weekday in {s["day"] for s in group["sessions"]}:
        entries.append({"date": day.isoformat(), "kind": "group", "reason": "site_closed"})
    if individual["site_id"] == site_id and individual["day"] == weekday:
        entries.append({"date": day.isoformat(), "kind": "individual", "reason": "site_closed"})
    return entries


def closure_target(
    roster: Mapping[str, Mapping[str, dict[str, Any]]], placed: Mapping[str, dict[str, Any]]
) -> tuple[dict[str, Any], date]:
    """The site with the most group clients, and the first day, once all of them have started,
    on which it holds sessions that nothing cancels yet (it is open, and nobody is absent)."""
    by_site = Counter(s["group"]["site_id"] for s in placed.values())
    site_id = min(by_site, key=lambda s: (-by_site[s], s))
    site = roster["site"][site_id]
    members = [s for s in placed.values() if s["group"]["site_id"] == site_id]
    day = max(date.fromisoformat(s["start_date"]) for s in members)
    while (
        not any(closure_entries(s, site_id, day) for s in placed.values())
        or day.isoformat() in site.get("closed_dates", [])
        or any(absent(t, day) for t in roster["therapist"].values())
    ):
        day += timedelta(days=1)
    return site, day


def sorted_entries(entries: Iterable[Mapping[str, str]]) -> list[tuple[str, str, str]]:
    return sorted((e["date"], e["kind"], e["reason"]) for e in entries)


# ------------------------------------------------------------------ a. a closure


def test_a_closure_on_a_group_day_reaches_each_client_it_touches_as_one_update_with_the_exdate(
    journey: Journey,
) -> None:
    before = latest_answers(journey, schedule_events(journey))
    placed = placed_now(before)
    roster = current_roster(journey)
    site, day = closure_target(roster, placed)
    expected = {c: closure_entries(s, site["site_id"], day) for c, s in placed.items()}
    touched = {c for c, entries in expected.items() if entries}
    assert touched, "the closure falls on a day the site holds sessions"
    notes_before = {e.id for e in asyncio.run(read_all(journey.system.kafka, topics.NOTIFICATION))}
    mail_before = set(mailbox(journey))

    closed = [*site.get("closed_dates", []), day.isoformat()]  # the sample's holiday stays
    closure = publish(journey, {"sites": [{**site, "closed_dates": closed}]})
    wait_for_schedule(
        journey,
        lambda events: touched <= {e.subject for e in events if e.causationid == closure.id},
        "every client the closure touches is re-published",
    )
    region_id = site["region_id"]
    sentinel = post_sentinel(journey, region_id)

    known = {e.id for e in before.values()}
    new = [e for e in schedule_events(journey) if e.id not in known and e.subject != sentinel]
    changed: dict[str, list[CloudEvent]] = {}
    for event in new:
        if event.subject in journey.clients:
            changed.setdefault(event.subject or "", []).append(event)
    assert set(changed) == touched, "exactly the clients with a cancelled occurrence, nobody else"
    for client_id, events in changed.items():
        [moved] = events
        old = before[client_id].data
        assert moved.type == "iop.client.rescheduled"
        assert moved.causationid == closure.id
        assert moved.data["schedule_version"] == old["schedule_version"] + 1
        assert {f: moved.data[f] for f in PLACEMENT} == {f: old[f] for f in PLACEMENT}
        assert sorted_entries(moved.data["cancelled"]) == sorted_entries(
            [*old.get("cancelled", []), *expected[client_id]]
        )

    told = {(c, e[0].data["schedule_version"]) for c, e in changed.items()}
    notes = wait_for_email_outcomes(journey, told)
    fresh = [e for e in notes if e.id not in notes_before and e.subject != sentinel]
    assert {e.subject for e in fresh} == touched, "the notifier tells exactly them"
    emailed = {
        c: journey.contact(c)["email"]
        for c in touched
        if journey.contact(c)["email"] and journey.contact(c)["email_consent"]
    }
    assert emailed, "some touched client takes email"
    for client_id in touched:
        [outcome] = [e for e in fresh if e.subject == client_id and e.data["channel"] == "email"]
        if client_id in emailed:
            assert outcome.type == "iop.notification.sent"
            assert outcome.data["purpose"] == "update", "an update of what they were told"
        else:
            assert outcome.type == "iop.notification.suppressed", "no consent, no email"

    sentinel_address = journey.contact(sentinel)["email"]
    arrived = [m for name, m in mailbox(journey).items() if name not in mail_before]
    recipients = Counter(recipient(m) for m in arrived if recipient(m) != sentinel_address)
    assert recipients == Counter(emailed.values()), "one email to each, none to anyone else"
    for client_id, address in emailed.items():
        [message] = [m for m in arrived if recipient(m) == address]
        assert exdates(message).count(day) == len(expected[client_id]), (
            "the update's calendar drops the closed day from each series it cancels"
        )


# ------------------------------------------------------------------ b. an absence


def session_minutes(session: Mapping[str, str]) -> tuple[int, int]:
    def minutes(hhmm: str) -> int:
        hours, mins = hhmm.split(":")
        return int(hours) * 60 + int(mins)

    return minutes(session["start"]), minutes(session["end"])


Booked = tuple[tuple[int, int], str | None]
"""A session held on a date: (start, end) in minutes and, in person, its site."""


def clash(a: Booked, b: Booked) -> bool:
    """Rule 7 on one date: no overlap (half-open), and 30 minutes between in-person sessions at
    different sites."""
    (a_start, a_end), a_site = a
    (b_start, b_end), b_site = b
    gap = TRAVEL_MINUTES if a_site and b_site and a_site != b_site else 0
    return a_start < b_end + gap and b_start < a_end + gap


def group_site(group: Mapping[str, Any]) -> str | None:
    return group["site_id"] if group["delivery"] == "in_person" else None


def group_sessions_on(group: Mapping[str, Any], day: date) -> dict[tuple[str, str], Booked]:
    weekday = DAYS[day.weekday()]
    return {
        (group["group_id"], session["start"]): (session_minutes(session), group_site(group))
        for session in group["sessions"]
        if session["day"] == weekday
    }


def individual_on(schedule: Mapping[str, Any], day: date) -> Booked | None:
    """The client's individual session on ``day``, if it takes place."""
    individual = schedule["individual"]
    if individual["day"] != DAYS[day.weekday()] or cancelled_on(schedule, day, "individual"):
        return None
    site = individual["site_id"] if individual["delivery"] == "in_person" else None
    return session_minutes(individual), site


def held_on(
    therapist_id: str,
    day: date,
    placed: Mapping[str, dict[str, Any]],
    substitutions: Iterable[Mapping[str, Any]],
    groups: Mapping[str, dict[str, Any]],
) -> list[Booked]:
    """Every session ``therapist_id`` holds on ``day`` according to what was published: the
    groups they facilitate and the individual sessions they give that take place, and the
    substitutions they run."""
    held: dict[tuple[str, str], Booked] = {}
    for client_id, s in placed.items():
        if not runs_on(s, day):
            continue
        if s["group"]["facilitator_id"] == therapist_id and not cancelled_on(s, day, "group"):
            held.update(group_sessions_on(s["group"], day))
        individual = individual_on(s, day)
        if s["individual"]["therapist_id"] == therapist_id and individual is not None:
            held[(client_id, "individual")] = individual
    for sub in substitutions:
        if sub["facilitator_id"] == therapist_id and sub["date"] == day.isoformat():
            held.update(group_sessions_on(groups[sub["group_id"]], day))
    return list(held.values())


def substitute_problems(
    sub: Mapping[str, Any],
    roster: Mapping[str, Mapping[str, dict[str, Any]]],
    placed: Mapping[str, dict[str, Any]],
    substitutions: list[Mapping[str, Any]],
) -> list[str]:
    """Why ``sub`` is not a valid substitute on its date (empty when it is): rule 6 and rule 7
    by the solver's own predicates, present that day, and no clash with what they hold."""
    day = date.fromisoformat(sub["date"])
    weekday = DAYS[day.weekday()]
    group = roster["group"][sub["group_id"]]
    therapist = roster["therapist"][sub["facilitator_id"]]
    that_day = {**group, "sessions": [s for s in group["sessions"] if s["day"] == weekday]}
    problems = []
    if not facilitator_credentialed(Therapist.parse(therapist), Group.parse(group)):
        problems.append("not credentialed for the group (rule 6)")
    if not that_day["sessions"]:
        problems.append("the group does not meet that day")
    elif not facilitator_can_hold(Therapist.parse(therapist), Group.parse(that_day)):
        problems.append("cannot hold the day's sessions (rule 7)")
    if absent(therapist, day):
        problems.append("absent that day")
    others = [s for s in substitutions if s is not sub]
    held = held_on(sub["facilitator_id"], day, placed, others, roster["group"])
    mine = group_sessions_on(group, day).values()
    if any(clash(a, b) for a in mine for b in held):
        problems.append("clashes with a session they hold that day (rule 7)")
    return problems


def meeting_day(
    group: Mapping[str, Any],
    members: list[dict[str, Any]],
    roster: Mapping[str, Mapping[str, dict[str, Any]]],
) -> date:
    """A day the group meets, a week after the last of its clients started, on which nothing
    cancels it yet (its site is open) and its facilitator is not already away."""
    facilitator = roster["therapist"][group["facilitator_id"]]
    closed = roster["site"][group["site_id"]].get("closed_dates", [])
    day = max(date.fromisoformat(s["start_date"]) for s in members) + timedelta(days=7)
    while (
        DAYS[day.weekday()] not in {s["day"] for s in group["sessions"]}
        or day.isoformat() in closed
        or absent(facilitator, day)
        or any(cancelled_on(s, day, "group") for s in members)
    ):
        day += timedelta(days=1)
    return day


def could_cover(
    therapist: Mapping[str, Any], group: Mapping[str, Any], day: date, away: str
) -> bool:
    """Rule 6 and rule 7's static part for that day: someone the scheduler may consider."""
    weekday = DAYS[day.weekday()]
    that_day = {**group, "sessions": [s for s in group["sessions"] if s["day"] == weekday]}
    return (
        therapist["therapist_id"] != away
        and not absent(therapist, day)
        and facilitator_credentialed(Therapist.parse(therapist), Group.parse(group))
        and facilitator_can_hold(Therapist.parse(therapist), Group.parse(that_day))
    )


def absence_target(
    roster: Mapping[str, Mapping[str, dict[str, Any]]], placed: Mapping[str, dict[str, Any]]
) -> tuple[dict[str, Any], date]:
    """The running group with the most clients for which somebody else is credentialed and
    can hold that day's sessions (so that a substitute is likely, though their other sessions
    may still rule everyone out), else the largest, and a day for its facilitator's absence."""
    by_group = Counter(s["group"]["group_id"] for s in placed.values())
    targets = []
    for group_id in sorted(by_group, key=lambda g: (-by_group[g], g)):
        members = [s for s in placed.values() if s["group"]["group_id"] == group_id]
        group = members[0]["group"]
        day = meeting_day(group, members, roster)
        roster_group = roster["group"][group_id]
        candidates = [
            t for t in roster["therapist"].values()
            if could_cover(t, roster_group, day, group["facilitator_id"])
        ]  # fmt: skip
        targets.append((not candidates, group, day))
    _, group, day = min(targets, key=lambda t: t[0])  # stable: the largest first
    return group, day


def test_an_absent_facilitator_gets_a_substitute_who_qualifies_that_day_or_no_cover(
    journey: Journey,
) -> None:
    before = latest_answers(journey, schedule_events(journey))
    roster = current_roster(journey)
    group, day = absence_target(roster, placed_now(before))
    away = group["facilitator_id"]
    therapist = roster["therapist"][away]
    span = {"start_date": day.isoformat(), "end_date": day.isoformat()}
    absence = publish(
        journey, {"therapists": [{**therapist, "absences": [*therapist.get("absences", []), span]}]}
    )
    members = [
        c for c, s in placed_now(before).items()
        if s["group"]["group_id"] == group["group_id"] and runs_on(s, day)
    ]  # fmt: skip
    assert members

    def decided() -> bool:
        cover = standing_substitutions(journey).get((group["group_id"], day.isoformat()))
        if cover is not None and cover.causationid == absence.id:
            return True
        moved = {e.subject for e in schedule_events(journey) if e.causationid == absence.id}
        return set(members) <= moved

    eventually(decided, "the absence is covered or cancels the group")
    post_sentinel(journey, roster["site"][group["site_id"]]["region_id"])

    after = latest_answers(journey, schedule_events(journey))
    placed = placed_now(after)
    roster = current_roster(journey)
    standing = standing_substitutions(journey)
    cover = standing.get((group["group_id"], day.isoformat()))
    weekday = DAYS[day.weekday()]
    for client_id in members:
        schedule = placed[client_id]
        assert {f: schedule[f] for f in PLACEMENT} == {
            f: before[client_id].data[f] for f in PLACEMENT
        }, "an absence moves nobody"
        individual = schedule["individual"]
        if individual["therapist_id"] == away and individual["day"] == weekday:
            assert {
                "date": day.isoformat(),
                "kind": "individual",
                "reason": "therapist_absent",
            } in (schedule["cancelled"])
    if cover is not None:
        assert cover.causationid == absence.id
        assert cover.data["replaces"] == away and cover.data["facilitator_id"] != away
        for client_id in members:
            assert not cancelled_on(placed[client_id], day, "group"), "the group meets"
    else:
        no_cover = {"date": day.isoformat(), "kind": "group", "reason": "no_cover"}
        for client_id in members:
            assert no_cover in placed[client_id]["cancelled"], "cancelled for every client"

    # Every substitute that stands (this one and the sample's week of leave) qualifies.
    subs = [e.data for e in standing.values()]
    for sub in subs:
        replaced = roster["therapist"][sub["replaces"]]
        if absent(replaced, date.fromisoformat(sub["date"])):
            assert substitute_problems(sub, roster, placed, subs) == [], sub


# ------------------------------------------------------------------ c. programmes end


def findings_since(
    journey: Journey,
    before: Mapping[str, CloudEvent],
    after: Mapping[str, CloudEvent],
    today: date,
) -> list[Any]:
    """The rule checker on everyone still placed or waiting, as of ``today``: the schedules
    they held before are the old ones, and only what changed since counts as moved."""
    current = {c: e for c, e in after.items() if e.type in ANSWERS}
    snapshot = {
        **journey.network,
        "enrollments": [e for e in journey.everyone if e["client_id"] in current],
        "schedules": [before[c].data for c in current if c in before and before[c].type in PLACED],
        "as_of": today.isoformat(),
    }
    output = {
        "scheduled": [e.data for e in current.values() if e.type in PLACED],
        "waitlisted": [e.data for e in current.values() if e.type == "iop.client.waitlisted"],
        "rescheduled": [
            c
            for c, e in current.items()
            if e.type == "iop.client.rescheduled" and (c not in before or before[c].id != e.id)
        ],
    }
    return list(validate_output(snapshot, output))


def test_a_restart_past_some_end_dates_completes_each_once_and_fills_the_freed_seats(
    journey: Journey,
) -> None:
    before = latest_answers(journey, schedule_events(journey))
    placed = placed_now(before)
    waiting = {c: e.data for c, e in before.items() if e.type == "iop.client.waitlisted"}
    capacity = {g["group_id"]: g["capacity"] for g in journey.network["groups"]}
    seats = Counter(s["group"]["group_id"] for s in placed.values())
    full = {g for g, n in seats.items() if n >= capacity[g]}
    assert full and any("groups_full" in w["reasons"] for w in waiting.values()), (
        "the sample fills its small groups and clients wait for them"
    )
    members_of_full = [s for s in placed.values() if s["group"]["group_id"] in full]
    later = max(date.fromisoformat(s["end_date"]) for s in members_of_full) + timedelta(days=1)
    due = {c for c, s in placed.items() if date.fromisoformat(s["end_date"]) < later}
    known = {e.id for e in schedule_events(journey)}
    mail_before = set(mailbox(journey))

    # A calendar tick every second: a completion published twice would show by the end.
    journey.system.restart_service(
        "scheduler", {"IOP_TODAY": later.isoformat(), "SCHEDULER_CALENDAR_TICK_S": "1"}
    )
    wait_for_schedule(
        journey,
        lambda events: due <= {e.subject for e in events if e.type == "iop.client.completed"},
        "every programme that ended is completed",
    )
    sentinels = {post_sentinel(journey, region) for region in sorted(SENTINEL_PROFILE)}

    events = schedule_events(journey)
    new = [e for e in events if e.id not in known and e.subject not in sentinels]
    completed = Counter(e.subject for e in new if e.type == "iop.client.completed")
    assert completed == Counter(due), "each client whose programme ended, once"
    for event in new:
        if event.type == "iop.client.completed":
            assert event.data["end_date"] == placed[event.subject or ""]["end_date"]
    after = latest_answers(journey, events)
    moved_up = {c for c in waiting if after[c].type in PLACED}
    assert moved_up, "waiting clients take the freed seats"
    others = {e.subject for e in new if e.type != "iop.client.completed"} - moved_up
    assert others <= set(waiting), "nobody who stays placed is re-sent"
    # A completion frees a seat, a caseload place and hours: whoever waited for a full group
    # now sits in one that a client left; others may have waited for a therapist's time.
    freed = {placed[c]["group"]["group_id"] for c in due}
    for client_id, waited in waiting.items():
        if waited["reasons"] == ["groups_full"]:
            assert after[client_id].data["group"]["group_id"] in freed, client_id
    for client_id in moved_up:
        assert date.fromisoformat(after[client_id].data["start_date"]) >= later
    assert findings_since(journey, before, after, later) == []

    told = {(c, after[c].data["schedule_version"]) for c in moved_up}
    notes = wait_for_email_outcomes(journey, told)
    for client_id, version in told:
        [outcome] = [
            e for e in notes
            if e.subject == client_id and e.data.get("schedule_version") == version
            and e.data["channel"] == "email"
        ]  # fmt: skip
        assert outcome.data["purpose"] == "confirmation"
    arrived = [recipient(m) for name, m in mailbox(journey).items() if name not in mail_before]
    for client_id in moved_up:
        contact = journey.contact(client_id)
        if contact["email"] and contact["email_consent"]:
            assert arrived.count(contact["email"]) == 1, "a confirmation for the new place"
