"""The solver's own view of the roster, enrollments and schedules, parsed from snapshot dicts.

The solver never imports the contracts package (ARCHITECTURE.md): these frozen types are read
straight from the ``data`` payloads of CONTRACT.md, keeping only what the rules need. The contact
block of an enrollment is deliberately not read, so personal data cannot leak into the solver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import InvalidSnapshot
from .weektime import (
    DAY_INDEX,
    Interval,
    parse_clock,
    parse_date,
    parse_interval,
    parse_intervals,
)

PRIORITY_WEIGHT: dict[str, int] = {"urgent": 3, "step_down": 2, "routine": 1}
PRIORITY_RANK: dict[str, int] = {"urgent": 0, "step_down": 1, "routine": 2}
MIN_WEEKLY_MINUTES: dict[str, int] = {"adult": 9 * 60, "adolescent": 6 * 60}
MAX_WEEKLY_MINUTES_EXCLUSIVE = 20 * 60
CLINICAL_LICENCES = frozenset({"LCSW", "LPC", "LMHC", "LMFT", "PsyD", "PhD", "MD", "PMHNP"})
ADDICTION_CREDENTIALS = frozenset({"LADC", "CADC", "LCADC", "CAADC", "LAC", "CSAC"})
MODALITIES_NEEDING_TRAINING = frozenset({"dbt", "trauma_informed"})
GROUP_GENDER_FOR_CLIENT: dict[str, str] = {"woman": "women", "man": "men"}

# Sites run IOP on weekday evenings and weekends unless the roster says otherwise (CONTRACT.md).
DEFAULT_WINDOWS: tuple[dict[str, str], ...] = tuple(
    [{"day": d, "start": "17:00", "end": "21:30"} for d in ("mon", "tue", "wed", "thu", "fri")]
    + [{"day": d, "start": "08:00", "end": "18:00"} for d in ("sat", "sun")]
)


def _req(item: Mapping[str, Any], key: str, kind: str) -> Any:
    if key not in item or item[key] is None:
        ident = item.get(f"{kind}_id", "?")
        raise InvalidSnapshot(f"{kind} {ident}: missing field {key!r}")
    return item[key]


def _strs(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidSnapshot("expected a list of strings")
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Site:
    site_id: str
    region_id: str
    timezone: str
    windows: tuple[Interval, ...]
    # Rule 11: the site holds no session on these dates (holidays, other closures).
    closed_dates: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> Site:
        windows = item.get("windows")
        sid = str(_req(item, "site_id", "site"))
        return cls(
            site_id=sid,
            region_id=str(_req(item, "region_id", "site")),
            timezone=str(item.get("timezone") or "UTC"),
            windows=parse_intervals(list(DEFAULT_WINDOWS) if windows is None else windows),
            closed_dates=frozenset(
                parse_date(d, f"site {sid} closed_dates") for d in item.get("closed_dates") or ()
            ),
        )


@dataclass(frozen=True)
class Group:
    group_id: str
    site_id: str
    delivery: str
    track: str
    modality: str
    population: str
    gender: str
    language: str
    capacity: int
    sessions: tuple[Interval, ...]
    facilitator_id: str | None
    open_from: date | None

    @property
    def minutes(self) -> int:
        return sum(s.minutes for s in self.sessions)

    @property
    def meeting_days(self) -> frozenset[int]:
        return frozenset(s.day for s in self.sessions)

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> Group:
        gid = str(_req(item, "group_id", "group"))
        sessions = parse_intervals(_req(item, "sessions", "group"))
        if not sessions:
            raise InvalidSnapshot(f"group {gid}: no sessions")
        open_from = item.get("open_from")
        fac = item.get("facilitator_id")
        return cls(
            group_id=gid,
            site_id=str(_req(item, "site_id", "group")),
            delivery=str(item.get("delivery") or "in_person"),
            track=str(_req(item, "track", "group")),
            modality=str(item.get("modality") or ""),
            population=str(_req(item, "population", "group")),
            gender=str(item.get("gender") or "any"),
            language=str(_req(item, "language", "group")),
            capacity=int(_req(item, "capacity", "group")),
            sessions=sessions,
            facilitator_id=None if fac is None else str(fac),
            open_from=None if open_from is None else parse_date(open_from, f"group {gid}"),
        )


@dataclass(frozen=True)
class Therapist:
    therapist_id: str
    site_ids: frozenset[str]
    telehealth: bool
    credentials: frozenset[str]
    modalities: frozenset[str]
    populations: frozenset[str]
    languages: frozenset[str]
    availability: tuple[Interval, ...]
    max_weekly_minutes: int
    max_caseload: int

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> Therapist:
        return cls(
            therapist_id=str(_req(item, "therapist_id", "therapist")),
            site_ids=frozenset(_strs(item.get("site_ids"))),
            telehealth=bool(item.get("telehealth", False)),
            credentials=frozenset(_strs(item.get("credentials"))),
            modalities=frozenset(_strs(item.get("modalities"))),
            populations=frozenset(_strs(item.get("populations"))),
            languages=frozenset(_strs(item.get("languages"))),
            availability=parse_intervals(item.get("availability")),
            max_weekly_minutes=round(float(_req(item, "max_weekly_hours", "therapist")) * 60),
            max_caseload=int(_req(item, "max_caseload", "therapist")),
        )


@dataclass(frozen=True)
class Enrollment:
    client_id: str
    region_id: str
    track: str
    population: str
    gender: str
    language: str
    preferred_site_ids: tuple[str, ...]
    accepts_telehealth: bool
    gender_specific_group: bool
    availability: tuple[Interval, ...]
    requested_start: date
    program_weeks: int
    priority: str
    indicated_modalities: frozenset[str]

    @property
    def weight(self) -> int:
        return PRIORITY_WEIGHT.get(self.priority, 1)

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> Enrollment:
        cid = str(_req(item, "client_id", "client"))
        return cls(
            client_id=cid,
            region_id=str(_req(item, "region_id", "client")),
            track=str(_req(item, "track", "client")),
            population=str(_req(item, "population", "client")),
            gender=str(item.get("gender") or "undisclosed"),
            language=str(_req(item, "language", "client")),
            preferred_site_ids=_strs(item.get("preferred_site_ids")),
            accepts_telehealth=bool(item.get("accepts_telehealth", False)),
            gender_specific_group=bool(item.get("gender_specific_group", False)),
            availability=parse_intervals(item.get("availability")),
            requested_start=parse_date(_req(item, "requested_start", "client"), f"client {cid}"),
            program_weeks=int(_req(item, "program_weeks", "client")),
            priority=str(item.get("priority") or "routine"),
            indicated_modalities=frozenset(_strs(item.get("indicated_modalities"))),
        )


@dataclass(frozen=True)
class Slot:
    """One individual session: a therapist, a time, and where it is held."""

    therapist_id: str
    interval: Interval
    delivery: str
    site_id: str

    @property
    def in_person(self) -> bool:
        return self.delivery == "in_person"


@dataclass(frozen=True)
class Schedule:
    """An existing schedule (a ``client.scheduled`` payload, parsed): what rule 10 keeps while
    the rules allow it. ``timezone`` and ``weekly_hours`` are read as the payload states them
    (None when absent), so that one made under other settings can be told apart and redone."""

    client_id: str
    region_id: str
    group_id: str
    group_site_id: str
    group_delivery: str
    facilitator_id: str | None
    sessions: tuple[Interval, ...]
    individual: Slot
    start_date: date
    end_date: date
    timezone: str | None = None
    weekly_hours: float | None = None
    # The group meetings of this schedule cancelled for want of a substitute (rule 11, reason
    # no_cover): nobody new starts on one (rule 9).
    uncovered: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> Schedule:
        cid = str(_req(item, "client_id", "client"))
        group = _req(item, "group", "client")
        ind = _req(item, "individual", "client")
        if not isinstance(group, dict) or not isinstance(ind, dict):
            raise InvalidSnapshot(f"schedule of client {cid}: group and individual are objects")
        day = ind.get("day")
        if day not in DAY_INDEX:
            raise InvalidSnapshot(f"schedule of client {cid}: bad individual day")
        fac = group.get("facilitator_id")
        slot = Slot(
            therapist_id=str(ind.get("therapist_id")),
            interval=parse_interval(ind),
            delivery=str(ind.get("delivery") or "in_person"),
            site_id=str(ind.get("site_id") or ""),
        )
        parse_clock(str(ind.get("start")))
        return cls(
            client_id=cid,
            region_id=str(item.get("region_id") or ""),
            group_id=str(group.get("group_id")),
            group_site_id=str(group.get("site_id") or ""),
            group_delivery=str(group.get("delivery") or "in_person"),
            facilitator_id=None if fac is None else str(fac),
            sessions=parse_intervals(group.get("sessions")),
            individual=slot,
            start_date=parse_date(item.get("start_date"), f"schedule of client {cid}"),
            end_date=parse_date(item.get("end_date"), f"schedule of client {cid}"),
            timezone=None if item.get("timezone") is None else str(item["timezone"]),
            weekly_hours=_number(item.get("weekly_hours")),
            uncovered=_uncovered(item.get("cancelled"), cid),
        )


def _number(value: object) -> float | None:
    """A JSON number as a float; None for anything else (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _uncovered(cancelled: Any, client_id: str) -> frozenset[date]:
    """The dates of a schedule's ``cancelled`` list whose group meeting has no cover."""
    if not isinstance(cancelled, list):
        return frozenset()
    return frozenset(
        parse_date(entry.get("date"), f"schedule of client {client_id}")
        for entry in cancelled
        if isinstance(entry, dict)
        and entry.get("kind") == "group"
        and entry.get("reason") == "no_cover"
    )
