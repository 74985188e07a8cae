"""Builders for tiny hand-made snapshots, and a solve helper that always runs the checker."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.adapters.snapshot import first_fit_snapshot, solve_snapshot
from iop_scheduler.solver import SolveSettings, validate_output

FAST = SolveSettings(time_limit_s=3.0, workers=4, seed=0)

# Every snapshot is taken on this day (``as_of``), a Monday: the solver's "today" (rule 9's floor,
# the dates from which rules 4 and 7 count) never comes from the clock, so no test depends on the
# day it runs. Dates in new tests are built from it.
TODAY = date(2026, 11, 30)

EVENINGS = [{"day": d, "start": "17:00", "end": "21:30"} for d in ("mon", "tue", "wed", "thu")]


def site(site_id: str = "s1", region: str = "r1") -> dict[str, Any]:
    return {
        "site_id": site_id,
        "name": "Site",
        "region_id": region,
        "timezone": "America/New_York",
        "windows": [*EVENINGS, {"day": "sat", "start": "08:00", "end": "18:00"}],
    }


def group(group_id: str = "g1", site_id: str = "s1", **over: Any) -> dict[str, Any]:
    base = {
        "group_id": group_id,
        "site_id": site_id,
        "delivery": "in_person",
        "track": "mental_health",
        "modality": "cbt",
        "population": "adult",
        "gender": "any",
        "language": "en",
        "capacity": 10,
        "sessions": [{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "thu")],
        "facilitator_id": None,
        "open_from": "2026-12-01",
    }
    base.update(over)
    return base


def therapist(therapist_id: str = "t1", **over: Any) -> dict[str, Any]:
    base = {
        "therapist_id": therapist_id,
        "name": "Therapist",
        "site_ids": ["s1"],
        "telehealth": True,
        "credentials": ["LCSW", "LADC"],
        "modalities": ["cbt", "dbt", "trauma_informed"],
        "populations": ["adult", "adolescent"],
        "languages": ["en", "es"],
        "availability": [*EVENINGS, {"day": "sat", "start": "08:00", "end": "18:00"}],
        "max_weekly_hours": 30,
        "max_caseload": 10,
    }
    base.update(over)
    return base


def client(client_id: str = "c1", **over: Any) -> dict[str, Any]:
    base = {
        "client_id": client_id,
        "region_id": "r1",
        "track": "mental_health",
        "population": "adult",
        "gender": "woman",
        "language": "en",
        "preferred_site_ids": ["s1"],
        "accepts_telehealth": False,
        "gender_specific_group": False,
        "availability": [*EVENINGS, {"day": "sat", "start": "09:00", "end": "13:00"}],
        "requested_start": "2026-12-01",
        "program_weeks": 8,
        "priority": "routine",
        "indicated_modalities": [],
        "contact": {
            "first_name": "Ana",
            "email": "ana@example.org",
            "phone": "+16175550101",
            "email_consent": True,
            "sms_consent": False,
        },
    }
    base.update(over)
    return base


def snapshot(**parts: list[dict[str, Any]]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sites": [site()],
        "groups": [group()],
        "therapists": [therapist()],
        "enrollments": [client()],
        "schedules": [],
        "as_of": TODAY.isoformat(),
    }
    base.update(copy.deepcopy(parts))
    return base


def _minutes(block: dict[str, str]) -> int:
    def clock(t: str) -> int:
        return int(t[:2]) * 60 + int(t[3:])

    return clock(block["end"]) - clock(block["start"])


def kept(
    client: dict[str, Any],
    group: dict[str, Any],
    facilitator_id: str,
    individual: dict[str, str],
    start: date,
) -> dict[str, Any]:
    """An existing ``client.scheduled`` payload from ``start`` for the client's programme_weeks,
    in person at the group's site (``individual``: therapist_id, day, start, end)."""
    minutes = sum(_minutes(s) for s in group["sessions"]) + _minutes(individual)
    return {
        "client_id": client["client_id"],
        "region_id": client["region_id"],
        "schedule_version": 1,
        "group": {
            "group_id": group["group_id"],
            "site_id": group["site_id"],
            "delivery": group["delivery"],
            "facilitator_id": facilitator_id,
            "sessions": group["sessions"],
        },
        "individual": {"delivery": "in_person", "site_id": group["site_id"], **individual},
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(weeks=client["program_weeks"], days=-1)).isoformat(),
        "weekly_hours": minutes / 60,
        "timezone": "America/New_York",
    }


def solve_checked(snap: dict[str, Any], settings: SolveSettings = FAST) -> dict[str, Any]:
    """Solve, then assert the independent checker finds nothing and coverage is exact."""
    out = solve_snapshot(snap, settings)
    findings = validate_output(snap, out)
    assert findings == [], [str(f) for f in findings]
    ids = [s["client_id"] for s in out["scheduled"]] + [w["client_id"] for w in out["waitlisted"]]
    assert sorted(ids) == sorted(e["client_id"] for e in snap["enrollments"])
    return out


def baseline_checked(snap: dict[str, Any]) -> dict[str, Any]:
    out = first_fit_snapshot(snap)
    findings = validate_output(snap, out)
    assert findings == [], [str(f) for f in findings]
    return out


def placed(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["client_id"]: s for s in out["scheduled"]}


def reasons(out: dict[str, Any], client_id: str = "c1") -> list[str]:
    return next(w["reasons"] for w in out["waitlisted"] if w["client_id"] == client_id)


@pytest.fixture
def iop() -> SimpleNamespace:
    """The builders and checked solve helpers (tests import nothing from conftest directly,
    which --import-mode=importlib would not allow)."""
    return SimpleNamespace(
        site=site,
        group=group,
        therapist=therapist,
        client=client,
        snapshot=snapshot,
        kept=kept,
        TODAY=TODAY,
        solve=solve_checked,
        baseline=baseline_checked,
        placed=placed,
        reasons=reasons,
        FAST=FAST,
    )
