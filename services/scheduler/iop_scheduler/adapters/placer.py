"""The solver behind a Protocol: one region snapshot in, the solver's result out, off the loop.

CP-SAT releases the GIL while it searches, so a worker thread keeps the event loop (heartbeats,
fetches, health checks) responsive without the cost of pickling snapshots to a process.
"""

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from iop_scheduler.settings import SchedulerSettings
from iop_scheduler.solver import SolveSettings, solve_snapshot


class Placer(Protocol):
    async def place(self, snapshot: Mapping[str, Any]) -> dict[str, Any]: ...


class SolverPlacer:
    def __init__(self, settings: SchedulerSettings) -> None:
        self._settings = SolveSettings(
            time_limit_s=settings.solve_time_limit_s,
            workers=settings.solve_workers,
            relative_gap_limit=settings.solve_relative_gap,
            admission_horizon_days=settings.admission_horizon_days,
            processes=1,  # we already run off the loop, one region at a time
        )

    async def place(self, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(solve_snapshot, snapshot, self._settings)
