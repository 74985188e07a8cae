"""The solver behind a Protocol: one region's problem in, the solver's result out, off the loop.

CP-SAT releases the GIL while it searches, so a worker thread keeps the event loop (heartbeats,
fetches, health checks) responsive without the cost of pickling problems to a process.
"""

import asyncio
from typing import Protocol

from iop_scheduler.settings import SchedulerSettings
from iop_scheduler.solver import Problem, Result, SolveSettings, solve


class Placer(Protocol):
    async def place(self, problem: Problem) -> Result: ...


class SolverPlacer:
    def __init__(self, settings: SchedulerSettings) -> None:
        self._settings = SolveSettings(
            time_limit_s=settings.solve_time_limit_s,
            workers=settings.solve_workers,
            relative_gap_limit=settings.solve_relative_gap,
            admission_horizon_days=settings.admission_horizon_days,
            processes=1,  # we already run off the loop, one region at a time
        )

    async def place(self, problem: Problem) -> Result:
        return await asyncio.to_thread(solve, problem, self._settings)
