"""The faults scenario, run once for the whole suite: what it does and what it collects.

The four services run as processes on a fresh embedded broker, with an SMTP sink. A generated
network's roster goes in over Kafka, then CLIENTS enrollments at a steady pace (over intake's
HTTP API, and every fifth as a referral on iop.referral.v1). While they flow, a wave of malformed
records of every kind lands on every input topic; then each service in turn is killed with
SIGKILL, a further wave lands while it is down, and it is started again. The health endpoints
are probed all along.

One placed client, the absentee, misses every group session of two whole weeks: a roll call
for the first week goes in before the kills, for the second after the clinic's restart (the
clinic lives CLINIC_AHEAD in the future, so both weeks are past for it). At the end the services
stop and everything is read back from Kafka and the SMTP sink, for the tests to judge.
"""

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from iop_contracts import CloudEvent, new_event, parse_payload, topics, week_days, week_of
from iop_notifier.domain.ledger import Purpose
from iop_notifier.messages.render import message_id
from iop_notifier.settings import NotifierSettings
from iop_scheduler.testing import Record

from iop.system import SERVICES
from tests.faults.harness import (
    ALERTS,
    ANSWERS,
    FaultSystem,
    Flow,
    HealthWatch,
    Probe,
    answers,
    dead_letters,
    good_events,
    inject,
    publish,
    wait_until_answered,
    wait_until_at_risk,
    wait_until_dead_lettered,
    wait_until_reported,
)
from tests.faults.records import SOURCE, BadRecord, absence_data, bad_records, group_days

REGIONS = 6
CLIENTS = 300
KILL_ORDER = ("intake", "scheduler", "notifier", "clinic")
# How far the clinic's today is ahead of the clock: the absentee's two weeks must be past for it,
# and placements start up to a few weeks after today.
CLINIC_AHEAD = timedelta(weeks=10)


@dataclass(frozen=True)
class Absentee:
    """A placed client (``placement``: its ``client.scheduled`` payload) and two whole ISO
    weeks of its programme, both past for the clinic, whose group sessions it all misses."""

    placement: dict[str, Any]
    weeks: tuple[str, str]

    @property
    def client_id(self) -> str:
        return str(self.placement["client_id"])

    def missed(self, week: str) -> list[date]:
        return group_days(self.placement, *week_days(week))

    def roll_call(self, week: str) -> list[CloudEvent]:
        """One absent record per group session of ``week``."""
        records = [absence_data(self.placement, day) for day in self.missed(week)]
        return [
            new_event(parse_payload("iop.attendance.recorded", data), source=SOURCE)
            for data in records
        ]


def absentee_of(placement: dict[str, Any], clinic_today: date) -> Absentee | None:
    """The placement's first two whole weeks, when the programme holds them and the clinic's
    today is past them; else None."""
    start, end = (date.fromisoformat(placement[k]) for k in ("start_date", "end_date"))
    monday = start + timedelta(days=-start.weekday() % 7)
    last = monday + timedelta(days=13)
    if last > end or last >= clinic_today:
        return None
    return Absentee(placement, (week_of(monday), week_of(last)))


@dataclass(frozen=True)
class Start:
    """One start of a service, and what intake answered right after it first said ready."""

    service: str
    generation: int  # 0: the first start; 1: the start after its kill
    first_ready: Probe
    expected: dict[str, str]  # intake: client -> status the topics held before the kill
    statuses: dict[str, tuple[int, str | None]]  # intake: client -> (HTTP status, status)


@dataclass
class Outcome:
    system: FaultSystem
    network: dict[str, Any]
    clients: dict[str, dict[str, Any]]
    refused: dict[str, int]
    injected: list[BadRecord]
    schedule: list[CloudEvent]  # every good event on iop.schedule.v1
    notifications: list[CloudEvent]
    letters: dict[str, list[Record]]  # by the topic dead-lettered from
    alerts: list[CloudEvent]  # what the clinic announced on iop.attendance.v1
    absentee: Absentee
    mailbox: list[EmailMessage]
    probes: list[Probe]
    starts: list[Start]
    began_on: date
    wall_s: float

    @property
    def answers(self) -> list[CloudEvent]:
        return [e for e in self.schedule if e.type in ANSWERS]

    def probes_of(self, start: Start) -> list[Probe]:
        return [p for p in self.probes if (p.service, p.generation) == (
            start.service, start.generation)]  # fmt: skip


def roster_of(network: dict[str, Any]) -> dict[str, Any]:
    return {kind: network[kind] for kind in ("sites", "groups", "therapists")}


def submitted_clients(network: dict[str, Any]) -> list[dict[str, Any]]:
    """CLIENTS enrollments taken round-robin across regions; one in six says no to email."""
    by_region: dict[str, list[dict[str, Any]]] = {}
    for enrollment in network["enrollments"]:
        by_region.setdefault(enrollment["region_id"], []).append(enrollment)
    mixed = [e for row in zip(*by_region.values(), strict=False) for e in row][:CLIENTS]
    assert len(mixed) == CLIENTS, "the network has enough enrollments"
    for index, enrollment in enumerate(mixed):
        enrollment["contact"] = {**enrollment["contact"], "email_consent": index % 6 != 3}
    return mixed


async def run(
    system: FaultSystem, network: dict[str, Any], clients: list[dict[str, Any]]
) -> Outcome:
    began, began_on = time.monotonic(), datetime.now(UTC).date()
    bootstrap = system.bootstrap_servers
    watch = HealthWatch(system)
    for service in SERVICES:
        system.launch(service)
    watching = asyncio.create_task(watch.run())
    flow = Flow(system.url("intake"), bootstrap, clients, per_second=5.0)
    try:
        starts = [await _started(system, watch, s, {}) for s in SERVICES]
        flowing = asyncio.create_task(flow.run())
        await flow.reached(CLIENTS // 8)
        absentee = await _absentee(bootstrap, system.clinic_today)
        injected = await _inject_wave(system, "running", network, clients, absentee)
        await _miss_week(bootstrap, absentee, absentee.weeks[0])
        await wait_until_dead_lettered(bootstrap, [r.fault_id for r in injected])
        for number, service in enumerate(KILL_ORDER):
            await flow.reached(CLIENTS * (number + 2) // 6)
            expected = await _known_statuses(bootstrap)
            system.kill(service)
            watch.killed(service)
            injected += await _inject_wave(system, f"{service}-down", network, clients, absentee)
            system.launch(service)
            starts.append(await _started(system, watch, service, expected))
            await wait_until_dead_lettered(bootstrap, [r.fault_id for r in injected])
        await _miss_week(bootstrap, absentee, absentee.weeks[1])
        await flowing
        await _finish(bootstrap, clients, flow.refused)
    finally:
        system.stop_services()
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    return Outcome(
        system=system,
        network=network,
        clients={c["client_id"]: c for c in clients},
        refused=flow.refused,
        injected=injected,
        schedule=await good_events(bootstrap, topics.SCHEDULE),
        notifications=await good_events(bootstrap, topics.NOTIFICATION),
        letters=await dead_letters(bootstrap),
        alerts=[e for e in await good_events(bootstrap, topics.ATTENDANCE) if e.type in ALERTS],
        absentee=absentee,
        mailbox=system.smtp_sink.messages() if system.smtp_sink else [],
        probes=list(watch.probes),
        starts=starts,
        began_on=began_on,
        wall_s=time.monotonic() - began,
    )


async def _absentee(bootstrap: str, clinic_today: date, timeout_s: float = 60) -> Absentee:
    """The first placed client whose programme holds two whole weeks past for the clinic."""
    async with asyncio.timeout(timeout_s):
        while True:
            for event in await answers(bootstrap):
                found = event.type == "iop.client.scheduled" and absentee_of(
                    event.data, clinic_today
                )
                if found:
                    return found
            await asyncio.sleep(0.5)


async def _miss_week(bootstrap: str, absentee: Absentee, week: str) -> None:
    """The week's roll call, absent at every group session; until the clinic announced it."""
    await publish(bootstrap, absentee.roll_call(week))
    await wait_until_at_risk(bootstrap, absentee.client_id, week, timeout_s=60)


async def _inject_wave(
    system: FaultSystem,
    wave: str,
    network: dict[str, Any],
    clients: list[dict[str, Any]],
    absentee: Absentee,
) -> list[BadRecord]:
    records = bad_records(wave, network, clients[0], absentee.placement)
    await inject(system.bootstrap_servers, records)
    return records


async def _known_statuses(bootstrap: str) -> dict[str, str]:
    """Each answered client's status as the schedule topic holds it now."""
    return {str(e.subject): e.type.removeprefix("iop.client.") for e in await answers(bootstrap)}


async def _started(
    system: FaultSystem, watch: HealthWatch, service: str, expected: dict[str, str]
) -> Start:
    """Wait for the first ready answer; intake is then asked at once for known statuses."""
    first = await watch.ready(service)
    statuses = await _intake_statuses(system, expected) if service == "intake" else {}
    return Start(service, watch.generation[service], first, expected, statuses)


async def _intake_statuses(
    system: FaultSystem, expected: dict[str, str]
) -> dict[str, tuple[int, str | None]]:
    found: dict[str, tuple[int, str | None]] = {}
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=5.0) as http:
        for client in expected:
            response = await http.get(f"/v1/enrollments/{client}")
            body = response.json() if response.status_code == 200 else {}
            found[client] = (response.status_code, body.get("status"))
    return found


async def _finish(bootstrap: str, clients: list[dict[str, Any]], refused: dict[str, int]) -> None:
    """Wait until every client is answered and every placed client's email is reported."""
    await wait_until_answered(bootstrap, {c["client_id"] for c in clients} - set(refused), 120)
    placed = {str(e.subject) for e in await answers(bootstrap) if e.type == "iop.client.scheduled"}
    await wait_until_reported(bootstrap, placed, timeout_s=90)


def describe(outcome: Outcome) -> list[str]:
    """Figures of the run, and per start the readiness answers before and after the first 200
    (None: no answer)."""
    kinds = Counter(e.type.removeprefix("iop.client.") for e in outcome.schedule)
    domain = NotifierSettings().message_domain
    received = Counter(str(m["Message-ID"]) for m in outcome.mailbox)
    interrupted = {  # client: emails the sink received for it
        str(e.subject): received[message_id(str(e.subject), 1, Purpose.CONFIRM, domain)]
        for e in outcome.notifications
        if e.data.get("reason") == "possibly_sent"
    }
    letters = sum(len(records) for records in outcome.letters.values())
    alerts = Counter(e.type.removeprefix("iop.client.") for e in outcome.alerts)
    lines = [
        f"faults scenario: {outcome.wall_s:.1f} s; schedule events {dict(kinds)}; "
        f"emails {len(outcome.mailbox)}; possibly_sent {interrupted}; dead letters {letters}; "
        f"clinic alerts {dict(alerts)}"
    ]
    for start in outcome.starts:
        probes = outcome.probes_of(start)
        before = Counter(p.ready for p in probes if p.at < start.first_ready.at)
        after = Counter(p.ready for p in probes if p.at >= start.first_ready.at)
        lines.append(f"{start.service} {start.generation}: before ready {before}, then {after}")
    return lines
