"""Snapshots to the solver's problem, and its result back to payloads.

The solver's boundary is typed (``solver.problem``). A snapshot is what the solver is asked
about in the form events carry it: lists of roster, enrollment and ``client.scheduled``
payloads and ``as_of`` (the service's projection gives one per region; tests, the benchmark and
the CLI write them by hand or generate them). This adapter reads a snapshot into a ``Problem``
and turns a ``Result`` into payloads: a kept schedule exactly as the snapshot holds it, a new one
built from the problem's group and site, a waitlist entry with the client's region.

Schedule versions are not the solver's business. In the service, domain.decisions gives each
new schedule one more than the client's highest; offline (``solve_snapshot`` and
``first_fit_snapshot`` here), ``versioned`` does the same from the snapshot alone (a displaced
client's old schedule, and ``schedule_versions``: the highest version consumers have seen per
client), so that the checkers can read the output as the events it stands for.
"""

from collections.abc import Mapping
from typing import Any

from iop_scheduler.solver import (
    Assignment,
    InvalidSnapshot,
    Problem,
    Result,
    SolveSettings,
    Waitlisting,
)
from iop_scheduler.solver import first_fit as clerk
from iop_scheduler.solver import solve as solver

Payload = dict[str, Any]


def problem_of(snapshot: Mapping[str, Any]) -> Problem:
    """The problem a snapshot states (InvalidSnapshot when an item cannot be read)."""
    return Problem.parse(snapshot)


def scheduled_payload(problem: Problem, assignment: Assignment) -> Payload:
    """A ``client.scheduled`` payload for a new assignment, without ``schedule_version`` and
    ``cancelled`` (the service's, from its history and its calendar)."""
    client = problem.enrollments[assignment.client_id]
    group = problem.groups[assignment.group_id]
    slot = assignment.individual
    return {
        "client_id": client.client_id,
        "region_id": client.region_id,
        "group": {
            "group_id": group.group_id,
            "site_id": group.site_id,
            "delivery": group.delivery,
            "facilitator_id": assignment.facilitator_id,
            "sessions": [s.as_payload() for s in group.sessions],
        },
        "individual": {
            "therapist_id": slot.therapist_id,
            "delivery": slot.delivery,
            "site_id": slot.site_id,
            **slot.interval.as_payload(),
        },
        "start_date": assignment.start_date.isoformat(),
        "end_date": assignment.end_date.isoformat(),
        "weekly_hours": (group.minutes + slot.interval.minutes) / 60,
        "timezone": problem.sites[group.site_id].timezone,
    }


def waitlisted_payload(problem: Problem, waiting: Waitlisting) -> Payload:
    return {
        "client_id": waiting.client_id,
        "region_id": problem.enrollments[waiting.client_id].region_id,
        "reasons": list(waiting.reasons),
        "detail": waiting.detail,
    }


def existing_schedules(snapshot: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The snapshot's schedule payloads by client (a later one replaces an earlier one, as the
    problem reads them)."""
    return {str(s["client_id"]): s for s in snapshot.get("schedules") or ()}


def as_payloads(snapshot: Mapping[str, Any], problem: Problem, result: Result) -> Payload:
    """The result as payloads, without versions: ``scheduled`` (each kept schedule as the
    snapshot holds it, each new one built), ``waitlisted`` and ``rescheduled`` (client ids)."""
    existing = existing_schedules(snapshot)
    return {
        "scheduled": [
            dict(existing[a.client_id]) if a.kept else scheduled_payload(problem, a)
            for a in result.assignments
        ],
        "waitlisted": [waitlisted_payload(problem, w) for w in result.waitlisted],
        "rescheduled": list(result.rescheduled),
    }


def seen_versions(snapshot: Mapping[str, Any]) -> dict[str, int]:
    """``schedule_versions``: the highest ``schedule_version`` consumers have seen per client
    (optional), so that a client placed again after ``client.unscheduled`` goes above it."""
    raw = snapshot.get("schedule_versions") or {}
    if not isinstance(raw, Mapping):
        raise InvalidSnapshot("snapshot 'schedule_versions' must map client ids to versions")
    out: dict[str, int] = {}
    for cid, version in raw.items():
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise InvalidSnapshot(f"schedule_versions of client {cid}: not a version number")
        out[str(cid)] = version
    return out


def versioned(snapshot: Mapping[str, Any], result: Result, payloads: Payload) -> Payload:
    """``payloads`` (from ``as_payloads``) with a ``schedule_version`` on each new schedule: one
    above the client's old schedule and what consumers have seen (CONTRACT.md: it rises by one
    with every change); a kept schedule keeps its own."""
    seen = seen_versions(snapshot)
    existing = existing_schedules(snapshot)
    scheduled = []
    for assignment, payload in zip(result.assignments, payloads["scheduled"], strict=True):
        if not assignment.kept:
            old = existing.get(assignment.client_id)
            before = 0 if old is None else int(old.get("schedule_version") or 1)
            payload = {
                **payload,
                "schedule_version": 1 + max(before, seen.get(payload["client_id"], 0)),
            }
        scheduled.append(payload)
    return {**payloads, "scheduled": scheduled}


def output(snapshot: Mapping[str, Any], problem: Problem, result: Result) -> Payload:
    """The payload-shaped output of a solve, versions and statistics included: what
    ``validate_output`` and the clean-room checker read."""
    payloads = versioned(snapshot, result, as_payloads(snapshot, problem, result))
    return {**payloads, "stats": dict(result.stats)}


def solve_snapshot(
    snapshot: Mapping[str, Any], settings: SolveSettings = SolveSettings()
) -> Payload:
    """Schedule every enrollment of ``snapshot`` (the solver, through this adapter)."""
    problem = problem_of(snapshot)
    return output(snapshot, problem, solver(problem, settings))


def first_fit_snapshot(
    snapshot: Mapping[str, Any], settings: SolveSettings = SolveSettings()
) -> Payload:
    """The first-fit clerk's answer to ``snapshot``, in the same shape as ``solve_snapshot``."""
    problem = problem_of(snapshot)
    return output(snapshot, problem, clerk(problem, settings))
