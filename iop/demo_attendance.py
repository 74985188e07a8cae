"""`iop demo`, the week of attendance: what a program's staff do every evening, through the
clinic's HTTP API.

The clinic runs with its clock pinned (IOP_TODAY) to a Friday evening, and the scheduler is
moved to the same date, so that a make-up asked for that week falls on a day still to come for
both. Monday to Friday, evening by evening, the demo lists each site's occurrences and records
every group's roll call and every individual session: everyone present but a deterministic
handful (per region, one client absent at their last two sessions, one absent once, one late
or excused once; and one absent once whom a make-up fits, see demo_makeup.py). Then it reads
the week's compliance and the alerts the clinic published on iop.attendance.v1, asks for one
make-up for a client at risk, and prints the scheduler's answer and the rule checker's verdict.
"""

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import httpx
from iop_contracts import CloudEvent, topics, week_of
from iop_contracts.operator_errors import OperatorError

from iop.demo_makeup import (
    MakeupOutcome,
    Standing,
    makeup_lines,
    read_answer,
    read_invite,
    shortfall,
)
from iop.observe import read_events
from iop.system import System

EVENING_WEEKDAY = 4  # Friday: the week's roll calls Monday to Friday; the weekend still to come
ABSENCE_LIMIT = 2  # CLINIC_ABSENCE_LIMIT, set explicitly: the plan below relies on it
LATE_MINUTES = 45
API_KEY_VARIABLE = "IOP_CLINIC_API_KEY"  # as `iop report` reads it

HOURS_AT_RISK = "iop.client.hours_at_risk"
ATTENDANCE_ALERT = "iop.client.attendance_alert"


class AttendanceRefused(OperatorError, RuntimeError):
    """The clinic refused what the demo sent (its answer says why)."""


def attendance_evening(today: date, weeks: int) -> date:
    """The Friday of the ISO week `weeks` (at least one) after today's."""
    day = today + timedelta(weeks=max(weeks, 1))
    return day - timedelta(days=day.weekday() - EVENING_WEEKDAY)


def week_until(evening: date) -> list[date]:
    """Monday of the evening's week up to the evening."""
    monday = evening - timedelta(days=evening.weekday())
    return [monday + timedelta(days=n) for n in range(evening.weekday() + 1)]


def clinic_env(evening: date) -> dict[str, str]:
    """The clinic's settings for the demo: its clock at the evening; its alert clock looking
    every second instead of every minute, so that weeks which cancellations alone put out of
    reach are announced within the demo; the absence limit the plan relies on; and no automatic
    make-ups (the demo asks for one itself)."""
    return {
        "IOP_TODAY": evening.isoformat(),
        "CLINIC_ALERT_TICK_S": "1",
        "CLINIC_ABSENCE_LIMIT": str(ABSENCE_LIMIT),
        "CLINIC_AUTO_MAKEUP": "false",
    }


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True, order=True)
class Seat:
    """One client expected at one occurrence the clinic lists."""

    day: date
    start: str
    client_id: str
    kind: str  # group | individual | makeup
    minutes: int


def seats_of(occurrence: Mapping[str, Any]) -> list[Seat]:
    day = date.fromisoformat(occurrence["date"])
    makeups = set(occurrence.get("makeups") or ())
    kind = occurrence["kind"]
    return [
        Seat(day, occurrence["start"], c, "makeup" if c in makeups else kind, occurrence["minutes"])
        for c in occurrence["expected"]
    ]


class Role(StrEnum):
    STREAK = "absent at their last two sessions"
    ABSENT = "absent at one group session"
    LATE = f"{LATE_MINUTES} minutes late to one group session"
    EXCUSED = "excused from one group session"
    MAKEUP = "absent at one group session; a make-up this week fits them"


Mark = tuple[str, int | None]  # status, minutes_attended (None: the clinic's default)
PRESENT: Mark = ("present", None)


def by_client(seats: Iterable[Seat]) -> dict[str, list[Seat]]:
    """Each client's seats in time order."""
    found: dict[str, list[Seat]] = {}
    for seat in sorted(seats):
        found.setdefault(seat.client_id, []).append(seat)
    return found


def roles_for(
    seats: Iterable[Seat], regions: Mapping[str, str], makeup_fits: Callable[[str], bool]
) -> dict[str, Role]:
    """Among the clients with two sessions or more this week, one of them a group's, by id:
    the first whom a make-up fits absent once; then per region the first of the others absent
    twice in a row, the next absent once, the next late (first region) or excused."""
    eligible = [
        c
        for c, mine in sorted(by_client(seats).items())
        if len(mine) >= 2 and any(s.kind == "group" for s in mine)
    ]
    fitting = next((c for c in eligible if makeup_fits(c)), None)
    roles = {} if fitting is None else {fitting: Role.MAKEUP}
    for index, region in enumerate(sorted({regions[c] for c in eligible})):
        wanted = (Role.STREAK, Role.ABSENT, Role.LATE if index % 2 == 0 else Role.EXCUSED)
        others = [c for c in eligible if regions[c] == region and c not in roles]
        roles.update(zip(others, wanted, strict=False))
    return roles


def marks_for(seats: Iterable[Seat], roles: Mapping[str, Role]) -> dict[Seat, Mark]:
    """What each planned client's records say where they are not `present`."""
    mine = by_client(seats)
    marks: dict[Seat, Mark] = {}
    for client_id, role in roles.items():
        group = next(s for s in mine[client_id] if s.kind == "group")
        if role is Role.STREAK:
            # Their last two: no later record breaks the streak, so the alert stands.
            marks.update({s: ("absent", None) for s in mine[client_id][-ABSENCE_LIMIT:]})
        elif role in (Role.ABSENT, Role.MAKEUP):
            marks[group] = ("absent", None)
        elif role is Role.EXCUSED:
            marks[group] = ("excused", None)
        else:
            marks[group] = ("late", group.minutes - LATE_MINUTES)
    return marks


# ------------------------------------------------------------------ the clinic's API


class Clinic:
    """The clinic's HTTP API as the demo uses it; any refusal ends the demo with its reason."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            detail = _detail(response)
            hint = (
                f" (set {API_KEY_VARIABLE} to a network key)" if response.status_code == 401 else ""
            )
            raise AttendanceRefused(
                f"the clinic answered {method} {path} with {response.status_code}: {detail}{hint}"
            )
        return response.json()

    async def held(self, site_ids: Iterable[str], day: date) -> list[dict[str, Any]]:
        """Every occurrence held that day at the sites for someone (one cancelled for all, or
        with nobody in it, has no roll call)."""
        params = {"date": day.isoformat()}
        per_site = await asyncio.gather(
            *(self.call("GET", f"/v1/sites/{s}/occurrences", params=params) for s in site_ids)
        )
        found = [o for listed in per_site for o in listed]
        return [o for o in found if o["expected"] and o["cancel_reason"] is None]

    async def record(self, occurrence: Mapping[str, Any], marks: Mapping[Seat, Mark]) -> None:
        """A group's roll call, or an individual session's record."""
        entries = [_entry(seat, marks.get(seat, PRESENT)) for seat in seats_of(occurrence)]
        day = occurrence["date"]
        if occurrence["kind"] == "group":
            path = f"/v1/occurrences/{occurrence['group_id']}/{day}/roll-call"
            await self.call("POST", path, json=entries)
            return
        [entry] = entries
        client_id = entry.pop("client_id")
        await self.call("POST", f"/v1/clients/{client_id}/sessions/{day}/individual", json=entry)

    async def record_evening(
        self, occurrences: list[dict[str, Any]], marks: Mapping[Seat, Mark]
    ) -> None:
        """One evening's records, a few requests at a time."""
        limit = asyncio.Semaphore(8)

        async def one(occurrence: dict[str, Any]) -> None:
            async with limit:
                await self.record(occurrence, marks)

        await asyncio.gather(*(one(o) for o in occurrences))


def _detail(response: httpx.Response) -> str:
    """A refusal's reason: the problem document's `detail` (ids only, never personal data)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


def _entry(seat: Seat, mark: Mark) -> dict[str, Any]:
    status, minutes = mark
    entry: dict[str, Any] = {"client_id": seat.client_id, "status": status}
    if minutes is not None:
        entry["minutes_attended"] = minutes
    return entry


def clinic_headers() -> dict[str, str]:
    key = os.environ.get(API_KEY_VARIABLE, "")
    return {"X-API-Key": key} if key else {}


# ------------------------------------------------------------------ the outcome


@dataclass
class AttendanceOutcome:
    evening: date
    week: str
    roles: dict[str, Role]
    occurrences: Counter[str]  # recorded, by kind
    statuses: Counter[str]  # records, by status
    compliance: list[dict[str, Any]]  # GET /v1/compliance's rows
    alerts: list[CloudEvent]
    missing: list[str]  # alerts due that did not show up
    makeup: MakeupOutcome | None

    @property
    def findings(self) -> list[Any]:
        found: list[Any] = list(self.missing)
        if self.makeup is not None:
            found += self.makeup.findings
            if self.makeup.answer is None:
                found.append(f"no answer to the make-up request for {self.makeup.client_id}")
        return found


def alerts_due(
    compliance: Iterable[Mapping[str, Any]], roles: Mapping[str, Role]
) -> tuple[set[str], set[str]]:
    """Who must get a client.hours_at_risk for the week (at risk with every past session
    recorded: out of reach) and who a client.attendance_alert (absent at their last two)."""
    at_risk = {r["client_id"] for r in compliance if r["at_risk"] and r["unrecorded_hours"] == 0}
    return at_risk, {c for c, role in roles.items() if role is Role.STREAK}


async def read_alerts(
    system: System, week: str, at_risk: set[str], streaks: set[str]
) -> tuple[list[CloudEvent], list[str]]:
    """The alerts on iop.attendance.v1 once those due are there (or 30 s passed), and the
    ones due that were not seen."""

    def seen(events: list[CloudEvent], kind: str) -> set[str]:
        return {
            e.data["client_id"]
            for e in events
            if e.type == kind and (kind != HOURS_AT_RISK or e.data["week"] == week)
        }

    def complete(events: list[CloudEvent]) -> bool:
        return at_risk <= seen(events, HOURS_AT_RISK) and streaks <= seen(events, ATTENDANCE_ALERT)

    events = await read_events(system.kafka, topics.ATTENDANCE, complete, timeout_s=30)
    alerts = [e for e in events if e.type in (HOURS_AT_RISK, ATTENDANCE_ALERT)]
    missing = [
        f"no {kind.removeprefix('iop.client.')} for {client}"
        for kind, due in ((HOURS_AT_RISK, at_risk), (ATTENDANCE_ALERT, streaks))
        for client in sorted(due - seen(events, kind))
    ]
    return alerts, missing


def makeup_candidate(
    compliance: Iterable[Mapping[str, Any]], roles: Mapping[str, Role], placed: Iterable[str]
) -> Mapping[str, Any] | None:
    """A client at risk this week and still in the programme (placed): the one a make-up fits,
    else one absent once, else one absent twice, else anyone."""
    still = set(placed)
    at_risk = {r["client_id"]: r for r in compliance if r["at_risk"] and r["client_id"] in still}
    order = [Role.MAKEUP, Role.ABSENT, Role.STREAK]
    planned = sorted((order.index(r), c) for c, r in roles.items() if r in order and c in at_risk)
    chosen = [c for _, c in planned] + sorted(at_risk)
    return at_risk[chosen[0]] if chosen else None


async def ask_makeup(
    system: System, clinic: Clinic, row: Mapping[str, Any], week: str, standing: Standing
) -> MakeupOutcome:
    """Ask the clinic for a make-up for the row's client and week; read the scheduler's
    answer, the invite the notifier sent for it, and the rule checker's findings."""
    client_id, hours = row["client_id"], shortfall(row)
    path = f"/v1/clients/{client_id}/makeup"
    accepted = await clinic.call("POST", path, json={"week": week, "hours": hours})
    outcome = MakeupOutcome(client_id, week, hours, await read_answer(system, accepted["event_id"]))
    if outcome.answer is not None:
        if outcome.answer.type == "iop.client.makeup_scheduled":
            outcome.invite = await read_invite(system, client_id)
        outcome.findings = standing.findings(outcome.answer)
    return outcome


# ------------------------------------------------------------------ the run


async def drive_attendance(
    system: System,
    network: Mapping[str, Any],
    enrollments: list[dict[str, Any]],
    evening: date,
) -> AttendanceOutcome:
    """Record the week up to the evening, read compliance and alerts, ask for one make-up."""
    regions = {e["client_id"]: e["region_id"] for e in enrollments}
    site_ids = sorted(s["site_id"] for s in network["sites"])
    week, days = week_of(evening), week_until(evening)
    standing = await Standing.read(system, network, enrollments, evening)
    async with httpx.AsyncClient(
        base_url=system.url("clinic"), headers=clinic_headers(), timeout=30.0
    ) as http:
        clinic = Clinic(http)
        held = {day: await clinic.held(site_ids, day) for day in days}
        seats = [s for found in held.values() for o in found for s in seats_of(o)]
        roles = roles_for(seats, regions, lambda c: standing.makeup_fits(c, week))
        marks = marks_for(seats, roles)
        for day in days:  # evening by evening, as the staff record them
            await clinic.record_evening(held[day], marks)
        compliance = (await clinic.call("GET", "/v1/compliance", params={"week": week}))["clients"]
        at_risk, streaks = alerts_due(compliance, roles)
        alerts, missing = await read_alerts(system, week, at_risk, streaks)
        row = makeup_candidate(compliance, roles, standing.placed)
        makeup = None if row is None else await ask_makeup(system, clinic, row, week, standing)
    return AttendanceOutcome(
        evening=evening,
        week=week,
        roles=roles,
        occurrences=Counter(o["kind"] for found in held.values() for o in found),
        statuses=Counter(marks.get(s, PRESENT)[0] for s in seats),
        compliance=compliance,
        alerts=alerts,
        missing=missing,
        makeup=makeup,
    )


# ------------------------------------------------------------------ printing

COMPLIANCE_HEADER = (
    f"{'site':<7}{'client':<11}{'name':<11}{'scheduled':>10}{'attended':>10}{'minimum':>9}  status"
)


def standing_of(row: Mapping[str, Any]) -> str:
    """Met; at risk and why (attended plus still to come fall short); else on track, with what
    is still to come."""
    if row["met"]:
        return "met"
    return f"{'at risk' if row['at_risk'] else 'on track'}: {row['why_not']}"


def compliance_line(row: Mapping[str, Any]) -> str:
    return (
        f"{row['site_id']:<7}{row['client_id']:<11}{row['first_name'] or '-':<11}"
        f"{row['scheduled_hours']:>10.2f}{row['attended_hours']:>10.2f}"
        f"{row['minimum_hours']:>9.2f}  {standing_of(row)}"
    )


def alert_line(event: CloudEvent) -> str:
    data = event.data
    if event.type == HOURS_AT_RISK:
        return (
            f"  hours_at_risk     {data['client_id']:<11}{data['week']}  attended "
            f"{data['attended_hours']:.2f} h + {data['remaining_scheduled_hours']:.2f} h still "
            f"scheduled < {data['minimum_hours']:.2f} h minimum"
        )
    return (
        f"  attendance_alert  {data['client_id']:<11}{data['count']} {data['reason']}, "
        f"the last on {data['last_date']}"
    )


def alert_order(event: CloudEvent) -> tuple[str, str, str]:
    """By kind, client, then week (hours at risk) or last absence (attendance alerts)."""
    data = event.data
    return event.type, data["client_id"], str(data.get("week") or data.get("last_date"))


def render_attendance(outcome: AttendanceOutcome) -> str:
    days = week_until(outcome.evening)
    statuses = ", ".join(f"{status} {n}" for status, n in outcome.statuses.most_common())
    lines = [
        f"attendance, week {outcome.week}: the roll calls of {days[0].isoformat()} to "
        f"{outcome.evening.isoformat()} through the clinic's API (the clinic and the scheduler "
        f"at IOP_TODAY={outcome.evening.isoformat()}, a Friday evening)",
        f"recorded   {outcome.occurrences['group']} group roll calls, "
        f"{outcome.occurrences['individual']} individual sessions: {statuses}",
        *(f"  {client:<11}{role}" for client, role in sorted(outcome.roles.items())),
        "",
        f"compliance, week {outcome.week} (GET /v1/compliance)",
        COMPLIANCE_HEADER,
        *(compliance_line(row) for row in outcome.compliance),
    ]
    counts = Counter(standing_of(r).split(":")[0] for r in outcome.compliance)
    lines.append(", ".join(f"{state} {n}" for state, n in sorted(counts.items())))
    lines += ["", "alerts on iop.attendance.v1"]
    ordered = sorted(outcome.alerts, key=alert_order)
    lines += [alert_line(e) for e in ordered] or ["  none"]
    lines += [f"  missing: {m}" for m in outcome.missing]
    return "\n".join([*lines, "", *makeup_lines(outcome.makeup)])
