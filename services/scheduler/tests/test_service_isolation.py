"""One bad client or one dead reader costs only itself: a client whose request breaks the solver
is dead-lettered alone while the rest of its batch is answered, and a reading task that ends
turns liveness (and readiness) false."""

from typing import Any

import httpx
import pytest
from iop_contracts import topics
from iop_scheduler.adapters.placer import SolverPlacer
from iop_scheduler.solver import Problem, Result
from iop_scheduler.testing import (
    Producer,
    Running,
    check_schedules,
    enrollment_events,
    eventually,
    network,
    read_topic,
    roster_events,
    schedule_events,
    settings_for,
    wait_answered,
)

pytestmark = pytest.mark.integration


class BreaksOn:
    """The real solver, except that any problem holding the poison client raises (as a solver
    bug or an input it cannot handle would)."""

    def __init__(self, poison: str, settings: Any) -> None:
        self.poison = poison
        self.solver = SolverPlacer(settings)
        self.failed = 0

    async def place(self, problem: Problem) -> Result:
        if self.poison in problem.enrollments:
            self.failed += 1
            raise OverflowError("date value out of range")
        return await self.solver.place(problem)


async def test_a_client_that_breaks_the_solve_is_dead_lettered_alone(
    kafka_bootstrap: str, unique: str
) -> None:
    net = network(f"i{unique}", load=0.3)
    requests = enrollment_events(net)[:8]
    clients = [e.subject or "" for e in requests]
    poison = clients[3]
    settings = settings_for(kafka_bootstrap, unique)
    placer = BreaksOn(poison, settings)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings, placer=placer) as running:
            await running.wait_ready()
            await producer.send_all(requests)  # one region: one partition, one batch or more
            others = [c for c in clients if c != poison]
            latest = await wait_answered(kafka_bootstrap, others, timeout_s=60)

            async def dead_lettered() -> bool:
                dlq = await read_topic(kafka_bootstrap, topics.dlq(topics.ENROLLMENT))
                return any(r.event.subject == poison for r in dlq)

            await eventually(dead_lettered, timeout_s=30)
            assert running.service.alive and running.service.ready
    assert placer.failed >= 2  # the whole batch, then the poison client alone
    assert await schedule_events(kafka_bootstrap, [poison]) == []
    assert check_schedules(net, latest, others) == []
    dlq = [
        r
        for r in await read_topic(kafka_bootstrap, topics.dlq(topics.ENROLLMENT))
        if r.event.subject == poison
    ]
    assert len(dlq) == 1
    assert dlq[0].headers["dlq_reason"].decode().startswith("placement failed: OverflowError at")


async def test_a_reader_that_stops_turns_liveness_false(kafka_bootstrap: str, unique: str) -> None:
    running = Running(settings_for(kafka_bootstrap, unique))
    transport = httpx.ASGITransport(app=running.app)
    client = httpx.AsyncClient(transport=transport, base_url="http://scheduler")
    async with client as http, running:
        await running.wait_ready()
        assert (await http.get("/health/live")).status_code == 200
        # As if the roster table's task had died of a bug: nothing else notices.
        task = running.service._roster._task
        assert task is not None
        task.cancel()

        async def dead() -> bool:
            return (await http.get("/health/live")).status_code == 500

        await eventually(dead, timeout_s=10)
        assert (await http.get("/health/ready")).status_code == 503
