"""A small network for the board, run for real: broker, SMTP sink and the four services as
processes (iop.system.System), the roster on the roster topic, enrollments over intake's HTTP
API, placed by the scheduler. Shared by the browser tests and bench/board_screenshots.py.

Today is pinned (IOP_TODAY, for the services and this process alike) to a Monday built from the
real date, so the week under test starts today: its Monday evening can take a roll call, and a
make-up can still fall later in the week.

Site 1 holds two evening groups, A (Mon, Wed, Thu) and B (Tue, Thu, Fri), and a telehealth
group (Tue, Thu at five). Ana is free Mon, Wed, Thu and Fri evenings only, so she sits in A, and
a make-up for her can only be B's Friday (Thursday overlaps her own group). Bo and Cal sit in A,
Dan and Eli (free Tue, Thu, Fri) in B. Site 2 holds group C with Fay and Gus. Every client is
free on Saturday mornings for their individual session; Hal is free then only, and waits.
"""

import asyncio
import json
import os
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from iop_contracts import CloudEvent, topics
from iop_contracts.access import key_digest

from iop.demo import post_enrollments
from iop.observe import latest_by_subject, read_events
from iop.roster import publish_events, roster_events
from iop.system import System, SystemSettings

EVENINGS = ("mon", "tue", "wed", "thu", "fri")
PLACED = {"iop.client.scheduled", "iop.client.rescheduled"}
T = TypeVar("T")
CLIENTS = {  # first name -> (site, evenings free)
    "Ana": (1, ("mon", "wed", "thu", "fri")),
    "Bo": (1, ("mon", "wed", "thu")),
    "Cal": (1, ("mon", "wed", "thu")),
    "Dan": (1, ("tue", "thu", "fri")),
    "Eli": (1, ("tue", "thu", "fri")),
    "Fay": (2, ("mon", "wed", "thu")),
    "Gus": (2, ("mon", "wed", "thu")),
    "Hal": (1, ()),  # Saturday mornings only: no group meets then, so Hal waits
}
WAITING = {"Hal"}


def monday_from(today: date) -> date:
    """The first Monday on or after `today`."""
    return today + timedelta(days=(7 - today.weekday()) % 7)


@dataclass
class Network:
    prefix: str
    monday: date

    def site(self, n: int) -> str:
        return f"{self.prefix}-s{n}"

    def group(self, name: str) -> str:
        return f"{self.prefix}-g{name.lower()}"

    def client(self, first_name: str) -> str:
        return f"{self.prefix}-c-{first_name.lower()}"

    @property
    def region(self) -> str:
        return f"{self.prefix}-r"

    def keys(self) -> dict[str, str]:
        return {name: f"board-key-{name}-{self.prefix}" for name in ("s1", "s2", "network")}

    def api_keys_setting(self) -> str:
        """CLINIC_API_KEYS: a key per site (its front desk) and one for head office."""
        keys = self.keys()
        scopes = {
            "s1": {"name": "s1-desk", "regions": [self.region], "sites": [self.site(1)]},
            "s2": {"name": "s2-desk", "regions": [self.region], "sites": [self.site(2)]},
            "network": {"name": "head-office", "network": True},
        }
        return json.dumps({key_digest(keys[name]): scope for name, scope in scopes.items()})

    def roster(self) -> dict[str, Any]:
        opens = self.monday.isoformat()
        sites = [
            {"site_id": self.site(n), "name": name, "region_id": self.region,
             "timezone": "America/New_York"}
            for n, name in ((1, "Riverside"), (2, "Hillcrest"))
        ]  # fmt: skip
        early = ("17:00", "18:00")
        groups = [
            self._group("A", 1, ("mon", "wed", "thu"), opens),
            self._group("B", 1, ("tue", "thu", "fri"), opens),
            self._group("T", 1, ("tue", "thu"), opens, delivery="telehealth", hours=early),
            self._group("C", 2, ("mon", "wed", "thu"), opens),
        ]
        therapists = [self._therapist(n, site) for n, site in ((1, 1), (2, 1), (3, 1), (4, 2))]
        return {"sites": sites, "groups": groups, "therapists": therapists}

    def _group(
        self, name: str, site: int, days: tuple[str, ...], opens: str,
        delivery: str = "in_person", hours: tuple[str, str] = ("18:00", "21:00"),
    ) -> dict[str, Any]:  # fmt: skip
        return {
            "group_id": self.group(name),
            "site_id": self.site(site),
            "delivery": delivery,
            "track": "substance_use",
            "modality": "relapse_prevention",
            "population": "adult",
            "gender": "any",
            "language": "en",
            "capacity": 8,
            "sessions": [{"day": d, "start": hours[0], "end": hours[1]} for d in days],
            "facilitator_id": None,
            "open_from": opens,
        }

    def _therapist(self, n: int, site: int) -> dict[str, Any]:
        return {
            "therapist_id": f"{self.prefix}-t{n}",
            "name": f"Therapist {n}",
            "site_ids": [self.site(site)],
            "credentials": ["LCSW", "LADC"],
            "modalities": ["relapse_prevention", "cbt"],
            "populations": ["adult"],
            "languages": ["en"],
            "availability": [
                *({"day": d, "start": "17:00", "end": "21:30"} for d in EVENINGS),
                {"day": "sat", "start": "08:00", "end": "14:00"},
            ],
            "max_weekly_hours": 40,
            "max_caseload": 30,
        }

    def enrollments(self) -> list[dict[str, Any]]:
        return [self._enrollment(name, site, days) for name, (site, days) in CLIENTS.items()]

    def _enrollment(self, name: str, site: int, days: tuple[str, ...]) -> dict[str, Any]:
        return {
            "client_id": self.client(name),
            "region_id": self.region,
            "track": "substance_use",
            "population": "adult",
            "gender": "undisclosed",
            "language": "en",
            "preferred_site_ids": [self.site(site)],
            "availability": [
                *({"day": d, "start": "17:00", "end": "21:30"} for d in days),
                {"day": "sat", "start": "09:00", "end": "13:00"},
            ],
            "requested_start": self.monday.isoformat(),
            "program_weeks": 8,
            "priority": "routine",
            "contact": {
                "first_name": name,
                "email": f"{name.lower()}.{self.prefix}@example.org",
                "phone": "+16175550123",
                "email_consent": True,
                "sms_consent": False,
            },
        }


@dataclass
class Running:
    """The system with the network placed: where the board is, and what the scheduler did."""

    system: System
    network: Network
    schedules: dict[str, dict[str, Any]]  # client id -> the schedule the scheduler published

    @property
    def board(self) -> str:
        return self.system.url("clinic", "/board")

    def seats(self, group_id: str, day: date) -> int:
        """The seats taken in a group that day, counted from the published schedules."""
        return sum(
            1
            for s in self.schedules.values()
            if s["group"]["group_id"] == group_id
            and date.fromisoformat(s["start_date"]) <= day <= date.fromisoformat(s["end_date"])
            and day.isoformat() not in {c["date"] for c in s.get("cancelled", [])}
        )


@contextmanager
def pinned_environment(network: Network) -> Iterator[None]:
    """IOP_TODAY and the clinic's keys, for this process and the services it starts."""
    saved = {name: os.environ.get(name) for name in ("IOP_TODAY", "CLINIC_API_KEYS")}
    os.environ["IOP_TODAY"] = network.monday.isoformat()
    os.environ["CLINIC_API_KEYS"] = network.api_keys_setting()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def running_network(network: Network, state_dir: Path, timeout_s: float = 90) -> Iterator[Running]:
    """The system started with the network's roster and enrollments, every client answered."""
    with pinned_environment(network):
        system = System(SystemSettings.isolated(state_dir))
        system.start_infrastructure()
        try:
            asyncio.run(publish_events(system.bootstrap_servers, roster_events(network.roster())))
            system.start_services()
            schedules = asyncio.run(_placed(system, network, timeout_s))
            yield Running(system, network, schedules)
        finally:
            system.stop()


async def _placed(system: System, network: Network, timeout_s: float) -> dict[str, dict[str, Any]]:
    enrollments = network.enrollments()
    rejected = await post_enrollments(system.url("intake"), enrollments)
    if rejected:
        raise RuntimeError(f"intake refused enrollments: {rejected}")
    waiting = {network.client(name) for name in WAITING}
    clients = {e["client_id"] for e in enrollments} - waiting
    answers = (*PLACED, "iop.client.waitlisted")

    def answered(events: list[CloudEvent]) -> bool:
        return clients | waiting <= {e.subject for e in events if e.type in answers}

    events = await read_events(system.bootstrap_servers, topics.SCHEDULE, answered, timeout_s)
    latest = latest_by_subject([e for e in events if e.type in PLACED])
    missing = clients - set(latest)
    if missing or not answered(events):
        raise RuntimeError(f"{len(missing)} clients not placed within {timeout_s:.0f} s")
    return {client: dict(latest[client].data) for client in clients}


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end in a thread of its own (Playwright's sync API keeps an event
    loop running in the test's thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def makeup_answer(system: System, client_id: str, timeout_s: float = 60) -> CloudEvent:
    """The scheduler's answer to the client's make-up request."""
    answers = ("iop.client.makeup_scheduled", "iop.client.makeup_unavailable")

    def found(events: list[CloudEvent]) -> bool:
        return any(e.type in answers and e.subject == client_id for e in events)

    events = await read_events(system.bootstrap_servers, topics.SCHEDULE, found, timeout_s)
    return next(e for e in events if e.type in answers and e.subject == client_id)
