"""Helpers for the scheduler service's tests and benchmark: build networks and events, publish
them, read topics back, and check what the scheduler answered. Not used by the service itself."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from iop_contracts import (
    CloudEvent,
    contract_today,
    decode_record,
    encode_event,
    new_event,
    parse_payload,
    topics,
)
from iop_contracts.consume import read_records
from iop_contracts.kafka import KafkaSettings

from iop_scheduler.settings import SchedulerSettings
from iop_scheduler.solver import Finding, generate, validate_output

SCHEDULED_TYPES = ("iop.client.scheduled", "iop.client.rescheduled")


def first_day() -> date:
    """The day the test networks open and their clients ask to start: tomorrow, by the clock
    the scheduler under test reads (IOP_TODAY when pinned), so the suite passes on any day."""
    return contract_today() + timedelta(days=1)


def network(
    prefix: str, *, seed: int = 3, regions: int = 1, sites: int = 1, load: float = 0.5
) -> dict[str, Any]:
    """A generated network whose every id starts with `prefix` (so tests sharing one broker
    never see each other's regions, sites or clients), opening tomorrow."""
    snapshot = generate(seed, regions=regions, sites_per_region=sites, load=load, start=first_day())
    snapshot["as_of"] = contract_today().isoformat()
    text = json.dumps(snapshot)
    return dict(json.loads(text.replace('"r0', f'"{prefix}r0')))


def roster_events(snapshot: Mapping[str, Any]) -> list[CloudEvent]:
    events = []
    for kind in ("site", "group", "therapist"):
        for item in snapshot[kind + "s"]:
            payload = parse_payload(f"iop.{kind}.upserted", item)
            events.append(new_event(payload, source="/test/roster"))
    return events


def event_of(event_type: str, data: Mapping[str, Any], source: str = "/test") -> CloudEvent:
    return new_event(parse_payload(event_type, data), source=source)


def enrollment_events(snapshot: Mapping[str, Any]) -> list[CloudEvent]:
    return [
        event_of("iop.enrollment.requested", e, "/test/intake") for e in snapshot["enrollments"]
    ]


def settings_for(bootstrap: str, unique: str, **overrides: Any) -> SchedulerSettings:
    """Settings for a test instance: its own group, short session, short solves."""
    values: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=bootstrap),
        "group_id": f"scheduler-{unique}",
        "client_id": f"scheduler-{unique}",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "solve_time_limit_s": 1.0,
        "solve_workers": 4,
        "http_port": 0,
        **overrides,
    }
    return SchedulerSettings(**values)


class Producer:
    """A plain aiokafka producer with acks=all, as any client of the contract would use."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")

    async def __aenter__(self) -> "Producer":
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, event: CloudEvent) -> None:
        record = encode_event(event)
        await self._producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )

    async def send_all(self, events: Iterable[CloudEvent]) -> None:
        futures = []
        for event in events:
            record = encode_event(event)
            futures.append(
                await self._producer.send(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
            )
        await asyncio.gather(*futures)

    async def send_raw(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=headers or [])


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int

    @property
    def event(self) -> CloudEvent:
        return decode_record(self.value)


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 20) -> list[Record]:
    """Every record of the topic now, all partitions."""
    records = await read_records(bootstrap, [topic], timeout_s=timeout_s, name="scheduler-tests")
    return [
        Record(r.topic, r.partition, r.offset, r.key, r.value, dict(r.headers or ()), r.timestamp)
        for r in records
    ]


async def schedule_events(bootstrap: str, client_ids: Iterable[str]) -> list[CloudEvent]:
    wanted = set(client_ids)
    events = [r.event for r in await read_topic(bootstrap, topics.SCHEDULE)]
    return [e for e in events if e.subject in wanted]


def latest_by_client(events: Iterable[CloudEvent]) -> dict[str, CloudEvent]:
    """Each client's latest schedule event (topic order within a client's partition)."""
    latest: dict[str, CloudEvent] = {}
    for event in events:
        if event.subject is not None:
            latest[event.subject] = event
    return latest


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, interval_s: float = 0.3
) -> None:
    """Wait (bounded) until `check` holds; a TimeoutError fails the test."""
    async with asyncio.timeout(timeout_s):
        while not await check():
            await asyncio.sleep(interval_s)


async def wait_answered(
    bootstrap: str, client_ids: Iterable[str], *, timeout_s: float
) -> dict[str, CloudEvent]:
    """Wait until every client's latest schedule event places or waitlists them."""
    wanted = set(client_ids)
    latest: dict[str, CloudEvent] = {}

    async def done() -> bool:
        nonlocal latest
        latest = latest_by_client(await schedule_events(bootstrap, wanted))
        return all(
            c in latest and latest[c].type in (*SCHEDULED_TYPES, "iop.client.waitlisted")
            for c in wanted
        )

    await eventually(done, timeout_s=timeout_s, interval_s=0.5)
    return latest


def check_schedules(
    snapshot: Mapping[str, Any],
    latest: Mapping[str, CloudEvent],
    client_ids: Iterable[str],
    previous: Mapping[str, CloudEvent] | None = None,
) -> list[Finding]:
    """Run the independent rule checker on the clients' current schedules; `previous` holds
    their earlier answers (the checker then also checks stability and version rises)."""
    wanted = set(client_ids)
    before = [
        e.data for c, e in (previous or {}).items() if c in wanted and e.type in SCHEDULED_TYPES
    ]
    enrollments = [e for e in snapshot["enrollments"] if e["client_id"] in wanted]
    scheduled = [e.data for c, e in latest.items() if c in wanted and e.type in SCHEDULED_TYPES]
    waitlisted = [
        e.data for c, e in latest.items() if c in wanted and e.type == "iop.client.waitlisted"
    ]
    checked = {**snapshot, "enrollments": enrollments, "schedules": before}
    moved = [c for c, e in latest.items() if c in wanted and e.type == "iop.client.rescheduled"]
    output = {"scheduled": scheduled, "waitlisted": waitlisted, "rescheduled": moved}
    return validate_output(checked, output)


def monotonic_ms() -> float:
    return time.monotonic() * 1000


class Running:
    """A scheduler app running in this process (its lifespan started), for integration tests."""

    def __init__(self, settings: SchedulerSettings, placer: Any = None) -> None:
        from iop_scheduler.app import build

        self.app, self.service = build(settings, placer=placer)
        self._lifespan: Any = None

    async def __aenter__(self) -> "Running":
        self._lifespan = self.app.start_lifespan_context()
        await self._lifespan.__aenter__()
        return self

    async def wait_ready(self, timeout_s: float = 30) -> None:
        async def ready() -> bool:
            return self.service.ready

        await eventually(ready, timeout_s=timeout_s, interval_s=0.1)

    async def __aexit__(self, *exc: object) -> None:
        await self._lifespan.__aexit__(None, None, None)


def small_region(
    prefix: str, *, groups: int = 1, capacity: int = 10, clients: int = 20, therapists: int = 3
) -> dict[str, Any]:
    """One site, `groups` alike adult substance-use groups of `capacity` seats, ample therapists,
    and `clients` alike clients who fit every group: seats are the only thing that runs out, so
    who is placed and who waits is predictable."""
    region, site = f"{prefix}reg", f"{prefix}site"
    evenings = ("mon", "tue", "wed", "thu", "fri")
    patterns = (("mon", "wed", "thu"), ("tue", "thu", "fri"), ("mon", "tue", "fri"))
    return {
        "sites": [
            {
                "site_id": site,
                "name": "Test site",
                "region_id": region,
                "timezone": "America/New_York",
            }
        ],
        "groups": [
            {
                "group_id": f"{prefix}g{i}",
                "site_id": site,
                "delivery": "in_person",
                "track": "substance_use",
                "modality": "relapse_prevention",
                "population": "adult",
                "gender": "any",
                "language": "en",
                "capacity": capacity,
                "sessions": [{"day": d, "start": "18:00", "end": "21:00"} for d in patterns[i % 3]],
                "facilitator_id": None,
                "open_from": first_day().isoformat(),
            }
            for i in range(groups)
        ],
        "therapists": [
            {
                "therapist_id": f"{prefix}t{i}",
                "name": f"Therapist {i}",
                "site_ids": [site],
                "credentials": ["LCSW", "LADC"],
                "modalities": ["relapse_prevention", "cbt"],
                "populations": ["adult"],
                "languages": ["en"],
                "availability": [
                    *({"day": d, "start": "17:00", "end": "21:30"} for d in evenings),
                    {"day": "sat", "start": "08:00", "end": "18:00"},
                ],
                "max_weekly_hours": 40,
                "max_caseload": 30,
            }
            for i in range(therapists)
        ],
        "enrollments": [
            {
                "client_id": f"{prefix}c{i:03d}",
                "region_id": region,
                "track": "substance_use",
                "population": "adult",
                "gender": "undisclosed",
                "language": "en",
                "preferred_site_ids": [site],
                "availability": [
                    *({"day": d, "start": "17:00", "end": "21:30"} for d in evenings),
                    {"day": "sat", "start": "09:00", "end": "13:00"},
                ],
                "requested_start": first_day().isoformat(),
                "program_weeks": 8,
                "priority": "routine",
                "contact": {"first_name": "Test", "email": f"c{i}@example.org"},
            }
            for i in range(clients)
        ],
        "schedules": [],
    }


def interleaved(events: list[CloudEvent], count: int) -> list[CloudEvent]:
    """`count` enrollments taken round-robin across regions (a stream touching every region)."""
    by_region: dict[str, list[CloudEvent]] = {}
    for event in events:
        by_region.setdefault(str(event.data["region_id"]), []).append(event)
    queues = list(by_region.values())
    out: list[CloudEvent] = []
    while len(out) < count and any(queues):
        for queue in queues:
            if queue and len(out) < count:
                out.append(queue.pop(0))
    return out


def contradictions(events: Iterable[CloudEvent]) -> dict[str, int]:
    """Clients with more than one distinct first answer (duplicates of one answer are fine:
    at-least-once delivery may repeat a record, but never change its content)."""
    answers: dict[str, set[str]] = {}
    for event in events:
        if event.type in (*SCHEDULED_TYPES, "iop.client.waitlisted"):
            content = json.dumps([event.type, event.data], sort_keys=True)
            answers.setdefault(event.subject or "", set()).add(content)
    return {client: len(found) for client, found in answers.items() if len(found) > 1}


class ServiceProcess:
    """`iop-scheduler run` in a process of its own, as an operator would start it."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        name: str,
        log_dir: Any,
        env: Mapping[str, str] | None = None,
    ) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.env = {
            **__import__("os").environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SCHEDULER_GROUP_ID": group_id,
            "SCHEDULER_CLIENT_ID": name,
            "SCHEDULER_HTTP_PORT": str(self.port),
            "SCHEDULER_SESSION_TIMEOUT_MS": "6000",
            "SCHEDULER_HEARTBEAT_INTERVAL_MS": "1000",
            "SCHEDULER_SOLVE_TIME_LIMIT_S": "1",
            "SCHEDULER_SOLVE_WORKERS": "4",
            **(env or {}),
        }
        self.process: Any = None

    def start(self) -> "ServiceProcess":
        import subprocess
        import sys
        from pathlib import Path

        command = str(Path(sys.executable).parent / "iop-scheduler")
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [command, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout_s: float = 60) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=2) as http:

            async def ready() -> bool:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
                try:
                    return (await http.get(self.url + "/health/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout_s=timeout_s, interval_s=0.2)

    async def metrics(self) -> str:
        import httpx

        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(self.url + "/metrics")).text

    def kill(self) -> None:
        """As a crash would: SIGKILL, no clean-up at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 30) -> bool:
        """SIGTERM, then wait; True when the service stopped cleanly (uvicorn shuts down, then
        re-raises the signal, so the exit code is -15 either way: the log tells)."""
        import signal
        import subprocess

        if self.process is None:
            return True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                return False
        return "scheduler stopped cleanly" in self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def stream(producer: Producer, events: list[CloudEvent], per_second: float) -> None:
    """Send events at a steady rate (each acknowledged)."""
    started = time.monotonic()
    for index, event in enumerate(events):
        await producer.send(event)
        delay = started + (index + 1) / per_second - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
