"""The solver's boundary (ARCHITECTURE.md): it imports neither the contracts package nor
FastStream, takes a typed ``Problem`` and answers a typed ``Result`` that knows nothing of
schedule versions, which the adapters and the service give."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from iop_scheduler.adapters.snapshot import output, problem_of
from iop_scheduler.solver import (
    Assignment,
    Problem,
    Result,
    Waitlisting,
    solve,
    validate_output,
)

# Every module of the solver package, imported in a fresh interpreter; then the top-level
# packages it loaded that the solver must not depend on.
IMPORTS = """
import json, pkgutil, importlib, sys
import iop_scheduler.solver as solver
for module in pkgutil.walk_packages(solver.__path__, solver.__name__ + "."):
    importlib.import_module(module.name)
forbidden = {"iop_contracts", "faststream", "aiokafka", "pydantic"}
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & forbidden)))
"""


def test_the_solver_imports_neither_contracts_nor_faststream() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == []


def test_the_probe_sees_what_a_service_module_imports() -> None:
    """The same probe, on a module that does import the contracts: it would catch a leak."""
    probe = IMPORTS.replace(
        "import iop_scheduler.solver as solver", "import iop_scheduler.domain as solver"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert "iop_contracts" in json.loads(done.stdout)


def _names(value: Any) -> Iterator[str]:
    """Every field name and mapping key inside a result, at any depth."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield f.name
            yield from _names(getattr(value, f.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _names(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _names(item)


def test_the_boundary_types_carry_no_version() -> None:
    for kind in (Problem, Result, Assignment, Waitlisting):
        assert not [f.name for f in dataclasses.fields(kind) if "version" in f.name], kind


def existing_and_new(iop: SimpleNamespace) -> dict[str, Any]:
    """k1 holds a schedule at version 4 whose therapist is gone (so it is redone); c1 is new
    and c2 fits no group (waitlisted)."""
    k1, group = iop.client("k1"), iop.group()
    hour = {"therapist_id": "gone", "day": "sat", "start": "09:00", "end": "10:00"}
    kept = {**iop.kept(k1, group, "t1", hour, iop.TODAY + timedelta(days=2)), "schedule_version": 4}
    return iop.snapshot(
        enrollments=[k1, iop.client("c1"), iop.client("c2", language="fr")],
        schedules=[kept],
    )


def test_a_result_knows_no_versions_and_the_adapter_gives_them(iop: SimpleNamespace) -> None:
    snap = existing_and_new(iop)
    problem = problem_of(snap)
    result = solve(problem, iop.FAST)
    assert {a.client_id for a in result.assignments} == {"k1", "c1"}
    assert [w.client_id for w in result.waitlisted] == ["c2"]
    assert result.rescheduled == ("k1",)
    assert not [name for name in _names(result) if "version" in name]
    out = output(snap, problem, result)
    assert validate_output(snap, out) == []
    assert {s["client_id"]: s["schedule_version"] for s in out["scheduled"]} == {"k1": 5, "c1": 1}


def test_a_kept_schedule_is_an_assignment_and_echoed_as_it_was(iop: SimpleNamespace) -> None:
    k1, group = iop.client("k1"), iop.group()
    hour = {"therapist_id": "t1", "day": "sat", "start": "09:00", "end": "10:00"}
    existing = {
        **iop.kept(k1, group, "t1", hour, iop.TODAY + timedelta(days=2)),
        "schedule_version": 3,
    }
    snap = iop.snapshot(enrollments=[k1], schedules=[existing])
    problem = problem_of(snap)
    result = solve(problem, iop.FAST)
    [assignment] = result.assignments
    assert (assignment.kept, assignment.group_id, assignment.facilitator_id) == (True, "g1", "t1")
    out = output(snap, problem, result)
    assert validate_output(snap, out) == []
    assert out["scheduled"] == [existing]
