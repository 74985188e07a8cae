"""`iop demo`: the whole system on the bundled sample network, driven the way a network would.

The roster goes in over Kafka, sixty enrollments over intake's HTTP API; the outcome is read back
from the schedule, staffing and notification topics and checked with the scheduler's rule
checker. The sample's holiday and weeks of leave show up as cancelled occurrences and
substitutes. Then the scheduler alone restarts on a Friday weeks later (IOP_TODAY): the
programmes that ended are completed, waiting clients take the freed seats, and that week's
attendance goes in through the clinic (demo_attendance.py).
"""

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any

import httpx
import yaml
from iop_contracts import CloudEvent, topics

from iop.demo_attendance import AttendanceOutcome, attendance_evening, clinic_env, drive_attendance
from iop.observe import latest_by_subject, read_all, read_events
from iop.roster import publish_events, roster_events
from iop.system import System

PLACED_TYPES = {"iop.client.scheduled", "iop.client.rescheduled"}
SCHEDULE_OUTCOMES = {*PLACED_TYPES, "iop.client.waitlisted"}


def sample(name: str) -> dict[str, Any]:
    text = resources.files("iop.samples").joinpath(name).read_text()
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def shifted(
    network: Mapping[str, Any], enrollments: list[dict[str, Any]], today: date
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move the sample's dates so that its earliest requested start is today, keeping gaps:
    groups' opening days, sites' closed dates, therapists' absences and requested starts."""
    earliest = min(date.fromisoformat(e["requested_start"]) for e in enrollments)
    delta = today - earliest

    def move(value: str) -> str:
        return (date.fromisoformat(value) + delta).isoformat()

    def span(absence: Mapping[str, str]) -> dict[str, str]:
        return {"start_date": move(absence["start_date"]), "end_date": move(absence["end_date"])}

    sites = [
        {**s, "closed_dates": [move(d) for d in s["closed_dates"]]} if "closed_dates" in s else s
        for s in network["sites"]
    ]
    groups = [{**g, "open_from": move(g["open_from"])} for g in network["groups"]]
    therapists = [
        {**t, "absences": [span(a) for a in t["absences"]]} if "absences" in t else t
        for t in network["therapists"]
    ]
    moved = [{**e, "requested_start": move(e["requested_start"])} for e in enrollments]
    return {**network, "sites": sites, "groups": groups, "therapists": therapists}, moved


@dataclass
class DemoOutcome:
    enrollments: list[dict[str, Any]]
    schedule: dict[str, CloudEvent]
    notifications: list[CloudEvent]
    findings: list[Any]
    rejected: dict[str, int]
    substitutions: list[CloudEvent] = field(default_factory=list)

    @property
    def placed(self) -> list[CloudEvent]:
        return [e for e in self.schedule.values() if e.type != "iop.client.waitlisted"]

    @property
    def waiting(self) -> list[CloudEvent]:
        return [e for e in self.schedule.values() if e.type == "iop.client.waitlisted"]


async def post_enrollments(
    intake_url: str, enrollments: Iterable[dict[str, Any]], concurrency: int = 8
) -> dict[str, int]:
    """POST each enrollment; returns the client ids that were not accepted, with the status."""
    rejected: dict[str, int] = {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=intake_url, timeout=30.0) as http:

        async def post(enrollment: dict[str, Any]) -> None:
            async with limit:
                response = await http.post("/v1/enrollments", json=enrollment)
                if response.status_code != 202:
                    rejected[enrollment["client_id"]] = response.status_code

        await asyncio.gather(*(post(e) for e in enrollments))
    return rejected


def check_placements(
    network: Mapping[str, Any], enrollments: list[dict[str, Any]], outcome: dict[str, CloudEvent]
) -> list[Any]:
    """Run the scheduler's independent rule checker over what the system published."""
    from iop_scheduler.solver import validate_output

    snapshot = {**network, "enrollments": enrollments, "schedules": []}
    output = {
        "scheduled": [e.data for e in outcome.values() if e.type != "iop.client.waitlisted"],
        "waitlisted": [e.data for e in outcome.values() if e.type == "iop.client.waitlisted"],
    }
    return list(validate_output(snapshot, output))


async def drive(
    system: System, network: dict[str, Any], enrollments: list[dict[str, Any]]
) -> DemoOutcome:
    rejected = await post_enrollments(system.url("intake"), enrollments)
    wanted = {e["client_id"] for e in enrollments} - set(rejected)

    def all_answered(events: list[CloudEvent]) -> bool:
        answered = {e.subject for e in events if e.type in SCHEDULE_OUTCOMES}
        return wanted <= answered

    schedule_events = await read_events(system.kafka, topics.SCHEDULE, all_answered, timeout_s=90)
    schedule = {
        client: event
        for client, event in latest_by_subject(
            [e for e in schedule_events if e.type in SCHEDULE_OUTCOMES]
        ).items()
        if client in wanted
    }
    placed = {c for c, e in schedule.items() if e.type != "iop.client.waitlisted"}

    def all_notified(events: list[CloudEvent]) -> bool:
        # Every placed client gets an email outcome (sent, failed or suppressed); an SMS outcome
        # may come first, so waiting for any outcome could stop before the email's.
        return placed <= {e.subject for e in events if e.data.get("channel") == "email"}

    notifications = await read_events(system.kafka, topics.NOTIFICATION, all_notified, timeout_s=60)
    findings = check_placements(network, enrollments, schedule)
    # The scheduler publishes a region's substitutes before its schedules: all are there now.
    substitutions = await read_all(system.kafka, topics.STAFFING)
    return DemoOutcome(enrollments, schedule, notifications, findings, rejected, substitutions)


PLACEMENT_HEADER = (
    f"{'region':<7}{'client':<11}{'priority':<10}{'group':<19}{'mode':<11}"
    f"{'group days':<14}{'individual':<26}{'start':<11}"
)


def placement_line(event: CloudEvent, priority: str) -> str:
    data = event.data
    group, individual = data["group"], data["individual"]
    days = "/".join(s["day"] for s in group["sessions"])
    one_to_one = f"{individual['therapist_id']} {individual['day']} {individual['start']}"
    one_to_one += " tele" if individual["delivery"] == "telehealth" else f" {individual['site_id']}"
    return (
        f"{data['region_id']:<7}{data['client_id']:<11}{priority:<10}{group['group_id']:<19}"
        f"{'telehealth' if group['delivery'] == 'telehealth' else group['site_id']:<11}"
        f"{days:<14}{one_to_one:<26}{data['start_date']:<11}"
    )


def waiting_line(event: CloudEvent) -> str:
    data = event.data
    return f"{data['region_id']:<7}{data['client_id']:<11}{', '.join(data['reasons'])}"


def cancelled_lines(placed: Iterable[CloudEvent]) -> list[str]:
    """Each cancelled occurrence once (a group's meeting, or a therapist's individual sessions
    that day) with the ids of the clients it touches, from the schedules' `cancelled` lists."""
    touched: dict[tuple[str, str, str, str], list[str]] = {}
    for event in placed:
        data = event.data
        for entry in data.get("cancelled", []):
            kind = entry["kind"]
            held_by = (
                data["group"]["group_id"] if kind == "group" else data["individual"]["therapist_id"]
            )
            key = (entry["date"], kind, held_by, entry["reason"])
            touched.setdefault(key, []).append(data["client_id"])
    if not touched:
        return ["cancelled sessions: none"]
    lines = [f"{'cancelled':<12}{'session':<12}{'of':<19}{'reason':<18}clients"]
    for (day, kind, held_by, reason), clients in sorted(touched.items()):
        lines.append(f"{day:<12}{kind:<12}{held_by:<19}{reason:<18}{' '.join(sorted(clients))}")
    return lines


def substitute_lines(substitutions: Iterable[CloudEvent]) -> list[str]:
    """The substitutes that stand: the latest facilitator.substituted per group and date."""
    standing = {(e.data["date"], e.data["group_id"]): e.data for e in substitutions}
    if not standing:
        return ["substitutes: none"]
    lines = [f"{'substitute':<12}{'group':<19}facilitator"]
    for (day, group_id), data in sorted(standing.items()):
        lines.append(f"{day:<12}{group_id:<19}{data['facilitator_id']} for {data['replaces']}")
    return lines


def render(outcome: DemoOutcome) -> str:
    priority = {e["client_id"]: e["priority"] for e in outcome.enrollments}
    lines = [PLACEMENT_HEADER]
    for event in sorted(outcome.placed, key=lambda e: (e.data["region_id"], e.subject or "")):
        lines.append(placement_line(event, priority[event.data["client_id"]]))
    if outcome.waiting:
        lines += ["", "waiting:"]
        lines += [waiting_line(e) for e in sorted(outcome.waiting, key=lambda e: e.subject or "")]
    lines += ["", *cancelled_lines(outcome.placed), "", *substitute_lines(outcome.substitutions)]
    unanswered = {e["client_id"] for e in outcome.enrollments} - set(outcome.schedule)
    unanswered -= set(outcome.rejected)
    regions = Counter(e["region_id"] for e in outcome.enrollments)
    placed_by_region = Counter(e.data["region_id"] for e in outcome.placed)
    per_region = ", ".join(f"{r} {placed_by_region[r]}/{n}" for r, n in sorted(regions.items()))
    lines += [
        "",
        f"placed      {len(outcome.placed)} of {len(outcome.enrollments)} ({per_region})",
        f"waiting     {len(outcome.waiting)}",
        f"rejected    {len(outcome.rejected)} by intake"
        + (f": {dict(outcome.rejected)}" if outcome.rejected else ""),
        f"unanswered  {len(unanswered)}",
        f"confirmations {notification_counts(outcome.notifications)}",
        rule_checker_line(outcome.findings),
    ]
    return "\n".join(lines)


def notification_counts(notifications: Iterable[CloudEvent]) -> str:
    sent = Counter(
        (e.type.removeprefix("iop.notification."), e.data["channel"]) for e in notifications
    )
    return ", ".join(f"{kind} {channel}: {n}" for (kind, channel), n in sorted(sent.items())) or (
        "none"
    )


def rule_checker_line(findings: list[Any]) -> str:
    return f"rule checker {len(findings)} findings" + "".join(f"\n  - {f}" for f in findings)


# ------------------------------------------------------------------ later: programmes end


@dataclass
class LaterOutcome:
    """The system as a later day finds it: the scheduler restarted with IOP_TODAY moved on."""

    today: date
    weeks: int
    completed: list[CloudEvent]
    from_waitlist: list[CloudEvent]
    still_waiting: list[CloudEvent]
    notifications: list[CloudEvent]
    findings: list[Any]


async def scheduler_settled(system: System, regions: set[str], timeout_s: float = 60) -> None:
    """Wait until the scheduler has settled every region once since it started: its per-region
    gauges exist only after a settle, which publishes (acknowledged) before it sets them."""
    wanted = {f'scheduler_placed_clients{{region="{r}"}}' for r in regions}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=5.0) as http:
        while loop.time() < deadline:
            text = (await http.get(system.url("scheduler", "/metrics"))).text
            if wanted <= {line.split(" ")[0] for line in text.splitlines()}:
                return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the scheduler did not settle {sorted(regions)} in {timeout_s:.0f} s")


def check_current(
    network: Mapping[str, Any],
    enrollments: list[dict[str, Any]],
    latest: Mapping[str, CloudEvent],
    earlier: Mapping[str, CloudEvent],
    today: date,
) -> list[Any]:
    """The rule checker on the clients still in the programme or waiting, as of ``today``;
    the schedules they held before are the old ones (kept, or moved with a reason)."""
    from iop_scheduler.solver import validate_output

    current = {c: e for c, e in latest.items() if e.type in SCHEDULE_OUTCOMES}
    old = [e.data for c, e in earlier.items() if c in current and e.type != "iop.client.waitlisted"]
    snapshot = {
        **network,
        "enrollments": [e for e in enrollments if e["client_id"] in current],
        "schedules": old,
        "as_of": today.isoformat(),
    }
    output = {
        "scheduled": [e.data for e in current.values() if e.type != "iop.client.waitlisted"],
        "waitlisted": [e.data for e in current.values() if e.type == "iop.client.waitlisted"],
        "rescheduled": [
            c
            for c, e in current.items()
            if e.type == "iop.client.rescheduled" and (c not in earlier or earlier[c].id != e.id)
        ],
    }
    return list(validate_output(snapshot, output))


async def move_scheduler(system: System, day: date, regions: set[str]) -> None:
    """Restart the scheduler alone with IOP_TODAY=day, then wait until it settled every region."""
    await asyncio.to_thread(system.restart_service, "scheduler", {"IOP_TODAY": day.isoformat()})
    await scheduler_settled(system, regions)


async def drive_later(
    system: System,
    network: dict[str, Any],
    first: DemoOutcome,
    later: date,
    weeks: int,
) -> LaterOutcome:
    """Once the scheduler runs on ``later`` (move_scheduler), ``weeks`` on, read what it
    published: completions, and the waitlisted clients it placed in the freed seats."""
    events = await read_all(system.kafka, topics.SCHEDULE)
    clients = set(first.schedule)
    completed = [e for e in events if e.type == "iop.client.completed" and e.subject in clients]
    latest = {
        c: e for c, e in latest_by_subject([e for e in events if e.subject in clients]).items()
    }
    waited = {e.subject for e in first.waiting}
    from_waitlist = [e for c, e in latest.items() if c in waited and e.type in PLACED_TYPES]
    still_waiting = [e for e in latest.values() if e.type == "iop.client.waitlisted"]
    told = {(e.subject, e.data["schedule_version"]) for e in from_waitlist}

    def all_notified(found: list[CloudEvent]) -> bool:
        return told <= {
            (e.subject, e.data.get("schedule_version"))
            for e in found
            if e.data.get("channel") == "email"
        }

    notes = await read_events(system.kafka, topics.NOTIFICATION, all_notified, timeout_s=60)
    notifications = [e for e in notes if (e.subject, e.data.get("schedule_version")) in told]
    findings = check_current(network, first.enrollments, latest, first.schedule, later)
    return LaterOutcome(
        later, weeks, completed, from_waitlist, still_waiting, notifications, findings
    )


def render_later(outcome: LaterOutcome, first: DemoOutcome) -> str:
    priority = {e["client_id"]: e["priority"] for e in first.enrollments}
    ended = sorted(outcome.completed, key=lambda e: (e.data["end_date"], e.subject or ""))
    lines = [
        f"{outcome.weeks} weeks on, a Friday: the scheduler restarted with IOP_TODAY="
        f"{outcome.today.isoformat()} (the clinic's too; intake and the notifier keep today's)",
        "",
        f"completed   {len(ended)} (client.completed, the day after end_date)",
        *(f"  {e.data['region_id']:<5}{e.subject:<11}ended {e.data['end_date']}" for e in ended),
        "",
        f"from the waitlist into freed seats: {len(outcome.from_waitlist)}",
    ]
    if outcome.from_waitlist:
        lines.append(PLACEMENT_HEADER)
        for event in sorted(outcome.from_waitlist, key=lambda e: e.subject or ""):
            lines.append(placement_line(event, priority[event.data["client_id"]]))
    lines += [
        "",
        f"still waiting {len(outcome.still_waiting)}",
        f"confirmations {notification_counts(outcome.notifications)}",
        rule_checker_line(outcome.findings),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ the run


def run_demo(
    system: System, today: date | None = None, later_weeks: int = 0
) -> tuple[DemoOutcome, LaterOutcome | None, AttendanceOutcome]:
    """Start the system, load the sample network, submit the sample enrollments, read results;
    restart the scheduler on the Friday ``later_weeks`` (at least one) weeks on, read again (with
    ``later_weeks``), and record that week's attendance through the clinic, pinned to that day."""
    today = today or date.today()
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"], today
    )
    evening = attendance_evening(today, later_weeks)
    system.extra_env["clinic"] = clinic_env(evening)
    system.start_infrastructure()
    try:
        # The roster is on the topic before the scheduler starts, so it rebuilds it first.
        asyncio.run(publish_events(system.kafka, roster_events(network)))
        system.start_services()
        first = asyncio.run(drive(system, network, enrollments))
        asyncio.run(move_scheduler(system, evening, {e["region_id"] for e in enrollments}))
        later = None
        if later_weeks:
            later = asyncio.run(drive_later(system, network, first, evening, later_weeks))
        attendance = asyncio.run(drive_attendance(system, network, enrollments, evening))
        return first, later, attendance
    finally:
        system.stop()
