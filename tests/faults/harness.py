"""The faults suite's machinery: the system whose services it kills, a health watch that probes
every service all along, the flow of good enrollments, and readers of what the topics hold."""

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from iop_contracts import CloudEvent, new_event, parse_payload, topics
from iop_contracts.envelope import encode_event
from iop_scheduler.testing import Record, read_topic

from iop.system import SERVICES, System, SystemSettings
from tests.faults.records import FAULT_HEADER, BadRecord, referral_data

ANSWERS = ("iop.client.scheduled", "iop.client.rescheduled", "iop.client.waitlisted")
ALERTS = ("iop.client.hours_at_risk", "iop.client.attendance_alert")
# What each service logs once it has rebuilt what readiness waits for.
REBUILT_LOG = {
    "intake": "status projection rebuilt",
    "scheduler": "rebuilt owned regions",
    "notifier": "table caught up",
    "clinic": "read model rebuilt",
}


class FaultSystem(System):
    """The system of ``iop up`` with test settings: fresh consumer groups, short sessions (so a
    killed member's partitions move in seconds), short solves, a clinic that looks for due
    alerts every second; and services that can be killed with SIGKILL and started again, as a
    crash and an orchestrator would.

    The clinic's today is ``clinic_today``, weeks ahead of the others' (the clock's): the
    clinic judges only weeks that have begun, and every programme the scheduler places starts
    after the real today, so only a clinic living later can find a week out of reach."""

    def __init__(self, state_dir: Path, unique: str, clinic_today: date) -> None:
        settings = SystemSettings.isolated(state_dir)
        settings.bootstrap_servers = None  # always a fresh embedded broker of our own
        super().__init__(settings)
        self.clinic_today = clinic_today
        self.overrides = {
            "SCHEDULER_GROUP_ID": f"faults-{unique}-scheduler",
            "SCHEDULER_SESSION_TIMEOUT_MS": "4000",
            "SCHEDULER_HEARTBEAT_INTERVAL_MS": "1000",
            "SCHEDULER_SOLVE_TIME_LIMIT_S": "1",
            "SCHEDULER_SOLVE_WORKERS": "4",
            "INTAKE_REFERRAL_GROUP_ID": f"faults-{unique}-referrals",
            "INTAKE_SESSION_TIMEOUT_MS": "4000",
            "INTAKE_HEARTBEAT_INTERVAL_MS": "1000",
            "NOTIFIER_CONSUMER_GROUP": f"faults-{unique}-notifier",
            "NOTIFIER_SESSION_TIMEOUT_MS": "4000",
            "NOTIFIER_HEARTBEAT_INTERVAL_MS": "1000",
            "NOTIFIER_WORKER_TICK_S": "0.2",
            "CLINIC_ATTENDANCE_GROUP_ID": f"faults-{unique}-clinic",
            "CLINIC_SESSION_TIMEOUT_MS": "4000",
            "CLINIC_HEARTBEAT_INTERVAL_MS": "1000",
            "CLINIC_ALERT_TICK_S": "1",
        }
        # Where each service's log stood at each start: a generation's own lines follow it.
        self.log_starts: dict[str, list[int]] = {s: [] for s in SERVICES}

    def service_env(self, service: str) -> dict[str, str]:
        env = super().service_env(service)
        env.pop("IOP_TODAY", None)  # the services' today is the clock's, like the suite's
        if service == "clinic":
            env["IOP_TODAY"] = self.clinic_today.isoformat()
        return {**env, **self.overrides}

    def log_path(self, service: str) -> Path:
        return self.run_dir / f"{service}.log"

    def launch(self, service: str) -> None:
        path = self.log_path(service)
        self.log_starts[service].append(path.stat().st_size if path.exists() else 0)
        self._start_service(service)

    def kill(self, service: str) -> None:
        process = self.processes[service]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_services(self) -> None:
        """SIGTERM every service and wait (the broker and the SMTP sink stay up)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def log_lines(self, service: str, generation: int) -> list[dict[str, Any]]:
        """The JSON log lines one generation (0: the first start) of a service wrote."""
        starts = self.log_starts[service]
        end = starts[generation + 1] if generation + 1 < len(starts) else None
        with self.log_path(service).open("rb") as log:
            log.seek(starts[generation])
            text = log.read(None if end is None else end - starts[generation])
        lines = []
        for line in text.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines


# ------------------------------------------------------------------ health


@dataclass(frozen=True)
class Probe:
    """One look at a service: the HTTP status of each health endpoint (None: no answer), and
    when the answers had come (a request may wait while the service is busy, so only this end
    of the exchange bounds when the service decided)."""

    service: str
    generation: int
    at: float
    live: int | None
    ready: int | None


class HealthWatch:
    """Probes /health/live and /health/ready of every service about five times a second, from
    the first start to the end. A kill moves the service to its next generation at once, so
    every answer is told apart by the process that gave it."""

    def __init__(self, system: FaultSystem) -> None:
        self.system = system
        self.probes: list[Probe] = []
        self.generation = dict.fromkeys(SERVICES, 0)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                await asyncio.gather(*(self._probe(http, s) for s in SERVICES))
                await asyncio.sleep(0.2)

    async def _probe(self, http: httpx.AsyncClient, service: str) -> None:
        generation = self.generation[service]
        live = await _status(http, self.system.url(service, "/health/live"))
        ready = await _status(http, self.system.url(service, "/health/ready"))
        self.probes.append(Probe(service, generation, time.time(), live, ready))

    def killed(self, service: str) -> None:
        self.generation[service] += 1

    def of(self, service: str, generation: int) -> list[Probe]:
        return [p for p in self.probes if p.service == service and p.generation == generation]

    async def ready(self, service: str, timeout_s: float = 90) -> Probe:
        """The first probe of the service's current generation that found it ready."""
        generation = self.generation[service]
        async with asyncio.timeout(timeout_s):
            while True:
                found = [p for p in self.of(service, generation) if p.ready == 200]
                if found:
                    return found[0]
                process = self.system.processes[service]
                if process.poll() is not None:
                    raise RuntimeError(f"{service} exited with {process.returncode}")
                await asyncio.sleep(0.05)


async def _status(http: httpx.AsyncClient, url: str) -> int | None:
    try:
        return (await http.get(url)).status_code
    except httpx.HTTPError:
        return None


def log_time(entry: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(str(entry["ts"])).timestamp()


# ------------------------------------------------------------------ the flow of good work


@dataclass
class Flow:
    """Submits the clients at a steady pace, every fifth as a referral on iop.referral.v1 and the
    rest over intake's HTTP API (an Idempotency-Key each, retried through intake's restarts)."""

    intake_url: str
    bootstrap: str
    clients: list[dict[str, Any]]
    per_second: float
    submitted: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.referred = {c["client_id"] for c in self.clients[::5]}

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        started = time.monotonic()
        try:
            async with httpx.AsyncClient(base_url=self.intake_url, timeout=10.0) as http:
                for index, client in enumerate(self.clients):
                    if client["client_id"] in self.referred:
                        await _refer(producer, client)
                    else:
                        await self._post(http, client)
                    self.submitted = index + 1
                    delay = started + (index + 1) / self.per_second - time.monotonic()
                    await asyncio.sleep(max(delay, 0))
        finally:
            await producer.stop()

    async def _post(self, http: httpx.AsyncClient, client: Mapping[str, Any]) -> None:
        key = {"Idempotency-Key": f"enroll-{client['client_id']}"}
        while True:
            with contextlib.suppress(httpx.TransportError):
                response = await http.post("/v1/enrollments", json=client, headers=key)
                if response.status_code == 202:
                    return
                if response.status_code != 503:  # a good enrollment refused: reported
                    self.refused[client["client_id"]] = response.status_code
                    return
            await asyncio.sleep(0.3)

    async def reached(self, count: int) -> None:
        while self.submitted < count:
            await asyncio.sleep(0.1)


async def _refer(producer: AIOKafkaProducer, client: Mapping[str, Any]) -> None:
    event = new_event(
        parse_payload("iop.referral.submitted", referral_data(client)), source="/tests/referrer"
    )
    record = encode_event(event)
    await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)


async def publish(bootstrap: str, events: Iterable[CloudEvent]) -> None:
    """Good events, as a contract producer sends them (an EHR's roll call, say)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            record = encode_event(event)
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def inject(bootstrap: str, records: Iterable[BadRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


# ------------------------------------------------------------------ what the topics hold


def fault_of(record: Record) -> str | None:
    value = record.headers.get(FAULT_HEADER)
    return None if value is None else value.decode()


async def good_events(bootstrap: str, topic: str) -> list[CloudEvent]:
    """The topic's events in order, the injected bad records left out."""
    return [r.event for r in await read_topic(bootstrap, topic) if fault_of(r) is None]


async def answers(bootstrap: str) -> list[CloudEvent]:
    return [e for e in await good_events(bootstrap, topics.SCHEDULE) if e.type in ANSWERS]


async def alerts(bootstrap: str) -> list[CloudEvent]:
    """What the clinic announced on iop.attendance.v1."""
    return [e for e in await good_events(bootstrap, topics.ATTENDANCE) if e.type in ALERTS]


async def wait_until_at_risk(bootstrap: str, client: str, week: str, timeout_s: float) -> None:
    """Until the clinic announced the client's week out of reach."""
    async with asyncio.timeout(timeout_s):
        while not any(
            e.type == "iop.client.hours_at_risk" and (e.subject, e.data["week"]) == (client, week)
            for e in await alerts(bootstrap)
        ):
            await asyncio.sleep(0.5)


async def dead_letters(bootstrap: str) -> dict[str, list[Record]]:
    """Every dead-letter topic's records, by the topic they were dead-lettered from."""
    return {topic: await read_topic(bootstrap, topics.dlq(topic)) for topic in topics.PARTITIONS}


def dead_lettered_faults(letters: Mapping[str, list[Record]]) -> Counter[str]:
    return Counter(fault_of(r) or "(not injected)" for records in letters.values() for r in records)


async def wait_until_dead_lettered(
    bootstrap: str, faults: Iterable[str], timeout_s: float = 90
) -> None:
    wanted = set(faults)
    async with asyncio.timeout(timeout_s):
        while not wanted <= set(dead_lettered_faults(await dead_letters(bootstrap))):
            await asyncio.sleep(1.0)


async def wait_until_answered(bootstrap: str, clients: set[str], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not clients <= {e.subject for e in await answers(bootstrap)}:
            await asyncio.sleep(1.0)


async def wait_until_reported(bootstrap: str, clients: set[str], timeout_s: float) -> None:
    """Until the notifier reported an email outcome (sent, suppressed, failed) for each."""
    async with asyncio.timeout(timeout_s):
        while True:
            notes = await good_events(bootstrap, topics.NOTIFICATION)
            if clients <= {e.subject for e in notes if e.data.get("channel") == "email"}:
                return
            await asyncio.sleep(1.0)
