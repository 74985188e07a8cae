"""A 60-site network's evening of attendance through the clinic's HTTP API, with the broker's floor.

The network is generated (`iop_scheduler.solver.generate`, 6 regions x 10 sites) and placed by
the scheduler's first-fit clerk in this process; its roster, the placed clients' enrollments and
their `client.scheduled` events are published straight to the topics: what is measured is the
clinic, not placement, and this keeps the run to about a minute (at the default load of 1.5
the network is oversubscribed and about 2,400 clients are placed). Then `iop-clinic run`
starts as its own process with a key per site, IOP_TODAY pinned to the evening (a Thursday some
five weeks into the programmes), and rebuilds its read model from the topics.

The evening: every group meeting that day gets one roll call (POST .../roll-call, all its
members, with the site's key) and every individual session that day one POST, in a shuffled
order, `--concurrency` requests at a time; each pass records the whole evening (a second pass
is corrections: new statuses that supersede). Per request, the time to its 201 (the records
acknowledged by the broker, acks=all). Then the time until the compliance view
(GET /v1/compliance, the network key) shows every client's attended and remaining hours as the
pass recorded them, and until the clinic's attendance consumer has judged every record (its
alerts evaluated; the clinic's metrics). In the same run, the broker's floor: a single record's
produce-to-consume round trip, and a roll call's worth of records produced at once until every
one is acknowledged (what a roll call's 201 waits for). Figures, not assertions.

    .venv/bin/python bench/clinic.py [--concurrency 1,8] [--seed 7] [--load 1.5] \\
        [--out bench/results/clinic.md]

Broker: KAFKA_BOOTSTRAP_SERVERS if set, else the embedded one.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from iop_contracts import CloudEvent, encode_event, new_event, parse_payload, topics, week_of
from iop_contracts.access import key_digest
from iop_contracts.consume import RecordReader
from iop_scheduler.adapters.snapshot import first_fit_snapshot
from iop_scheduler.solver import generate

from iop.broker import EmbeddedBroker, ensure_topics, free_port
from iop.system import KAFKA_SECURITY_ENV, service_command

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FLOOR_TOPIC = "iop.bench.clinic-floor"
NETWORK_KEY = "network"
SOURCE = "/bench/clinic"
# An evening's statuses (weights): mostly present, some absent, late, leaving early, excused.
STATUSES = ("present", "absent", "late", "left_early", "excused")
WEIGHTS = (80, 8, 6, 3, 3)
ATTENDED = {"present", "late", "left_early"}


# ------------------------------------------------------------------ the network and its evening


@dataclass
class Session:
    """One POST of the evening: a group meeting's roll call, or one individual session."""

    site_id: str
    minutes: int
    group_id: str | None  # None: an individual session
    clients: tuple[str, ...]


@dataclass
class Evening:
    day: date
    week: str
    schedules: dict[str, dict[str, Any]]
    sessions: list[Session] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(len(s.clients) for s in self.sessions)

    def roll_calls(self) -> list[Session]:
        return [s for s in self.sessions if s.group_id is not None]


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def runs_on(schedule: dict[str, Any], day: date) -> bool:
    return schedule["start_date"] <= day.isoformat() <= schedule["end_date"]


def group_minutes(schedule: dict[str, Any], day: date) -> int:
    weekday = DAYS[day.weekday()]
    sessions = schedule["group"]["sessions"]
    return sum(minutes(s["end"]) - minutes(s["start"]) for s in sessions if s["day"] == weekday)


def individual_minutes(schedule: dict[str, Any], day: date) -> int:
    individual = schedule["individual"]
    if individual["day"] != DAYS[day.weekday()]:
        return 0
    return minutes(individual["end"]) - minutes(individual["start"])


def the_evening() -> date:
    """The next Thursday from today: a weekday evening with the most group meetings."""
    today = date.today()
    return today + timedelta(days=(3 - today.weekday()) % 7)


def network(seed: int, load: float, day: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The generated network (programmes opening five weeks and three days before ``day``, a
    Monday) and the first-fit clerk's schedules."""
    snapshot = generate(seed, regions=6, sites_per_region=10, load=load, start=day - timedelta(38))
    placed = first_fit_snapshot(snapshot)["scheduled"]
    return snapshot, [{"cancelled": [], **s} for s in placed]


def evening_of(day: date, schedules: Sequence[dict[str, Any]]) -> Evening:
    evening = Evening(day, week_of(day), {s["client_id"]: s for s in schedules})
    members: dict[str, list[str]] = {}
    for client_id, s in sorted(evening.schedules.items()):
        if not runs_on(s, day):
            continue
        if group_minutes(s, day):
            members.setdefault(s["group"]["group_id"], []).append(client_id)
        if individual_minutes(s, day):
            site = s["individual"]["site_id"]
            evening.sessions.append(Session(site, individual_minutes(s, day), None, (client_id,)))
    for group_id, clients in sorted(members.items()):
        first = evening.schedules[clients[0]]
        site = first["group"]["site_id"]
        evening.sessions.append(Session(site, group_minutes(first, day), group_id, tuple(clients)))
    return evening


def events_of(snapshot: dict[str, Any], schedules: Sequence[dict[str, Any]]) -> list[CloudEvent]:
    """The roster, the placed clients' enrollments and their schedules, as events."""
    placed = {s["client_id"] for s in schedules}
    items = [(f"iop.{kind}.upserted", x) for kind in ("site", "group", "therapist")
             for x in snapshot[kind + "s"]]  # fmt: skip
    items += [
        ("iop.enrollment.requested", e) for e in snapshot["enrollments"] if e["client_id"] in placed
    ]
    items += [("iop.client.scheduled", s) for s in schedules]
    return [new_event(parse_payload(kind, data), source=SOURCE) for kind, data in items]


async def publish(bootstrap: str, events: Sequence[CloudEvent]) -> None:
    """Every event, acknowledged (acks=all), in order per key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = []
        for event in events:
            record = encode_event(event)
            pending.append(
                await producer.send(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


# ------------------------------------------------------------------ the clinic


def api_keys(sites: Sequence[dict[str, Any]]) -> tuple[dict[str, str], str]:
    """A raw key per site and one for the network, and the CLINIC_API_KEYS that holds them."""
    raw = {NETWORK_KEY: f"bench-{uuid.uuid4().hex}"}
    scopes: dict[str, Any] = {
        key_digest(raw[NETWORK_KEY]): {"name": "bench-network", "network": True}
    }
    for site in sites:
        raw[site["site_id"]] = f"bench-{uuid.uuid4().hex}"
        scopes[key_digest(raw[site["site_id"]])] = {
            "name": f"{site['site_id']}-desk",
            "regions": [site["region_id"]],
            "sites": [site["site_id"]],
        }
    return raw, json.dumps(scopes)


class ClinicProcess:
    """`iop-clinic run`, as an operator starts it, on the benchmark's broker."""

    def __init__(self, bootstrap: str, keys_setting: str, day: date, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {name: value for name, value in os.environ.items() if name not in KAFKA_SECURITY_ENV}
        self.env = {
            **env,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CLINIC_HTTP_PORT": str(self.port),
            "CLINIC_API_KEYS": keys_setting,
            "CLINIC_ATTENDANCE_GROUP_ID": f"bench-clinic-{uuid.uuid4().hex[:8]}",
            "IOP_TODAY": day.isoformat(),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                service_command("clinic"), env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    async def ready(self, timeout_s: float = 120) -> float:
        """Seconds until /health/ready answers 200 (its read model caught up)."""
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            while time.perf_counter() - started < timeout_s:
                assert self.process is not None and self.process.poll() is None, self.log
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"the clinic was not ready in {timeout_s:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# ------------------------------------------------------------------ recording the evening


Outcome = tuple[str, int]  # (status, minutes attended) per client recorded


def drawn(rng: random.Random, session: Session) -> dict[str, Outcome]:
    """Each client's status for the session, and the minutes it gives them."""
    outcomes = {}
    for client_id in session.clients:
        status = rng.choices(STATUSES, WEIGHTS)[0]
        short = {"late": session.minutes // 6, "left_early": session.minutes // 3}.get(status, 0)
        outcomes[client_id] = (status, session.minutes - short if status in ATTENDED else 0)
    return outcomes


def request_of(evening: Evening, session: Session, outcomes: dict[str, Outcome]) -> tuple[str, Any]:
    """The POST's path and body."""
    day = evening.day.isoformat()

    def entry(client_id: str) -> dict[str, Any]:
        status, given = outcomes[client_id]
        body: dict[str, Any] = {"status": status}
        if status in ("late", "left_early"):
            body["minutes_attended"] = given
        return body

    if session.group_id is None:
        [client_id] = session.clients
        return f"/v1/clients/{client_id}/sessions/{day}/individual", entry(client_id)
    roll = [{"client_id": c, **entry(c)} for c in session.clients]
    return f"/v1/occurrences/{session.group_id}/{day}/roll-call", roll


@dataclass
class Pass:
    concurrency: int
    roll_calls: list[float] = field(default_factory=list)
    individuals: list[float] = field(default_factory=list)
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)  # (client, kind)
    wall_s: float = 0.0
    reflected_s: float = 0.0
    judged_s: float = 0.0
    compliance_get_s: float = 0.0


async def record_evening(
    url: str, keys: dict[str, str], evening: Evening, concurrency: int, rng: random.Random
) -> Pass:
    """Every session of the evening once, ``concurrency`` at a time, in a shuffled order."""
    done = Pass(concurrency)
    order = list(evening.sessions)
    rng.shuffle(order)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as http:

        async def post(session: Session) -> None:
            outcomes = drawn(rng, session)
            path, body = request_of(evening, session, outcomes)
            async with gate:
                started = time.perf_counter()
                answer = await http.post(
                    path, json=body, headers={"X-API-Key": keys[session.site_id]}
                )
                took = time.perf_counter() - started
            assert answer.status_code == 201, (path, answer.status_code, answer.text[:300])
            kind = "individual" if session.group_id is None else "group"
            (done.individuals if session.group_id is None else done.roll_calls).append(took)
            done.outcomes.update({(c, kind): o for c, o in outcomes.items()})

        started = time.perf_counter()
        await asyncio.gather(*(post(s) for s in order))
        done.wall_s = time.perf_counter() - started
    return done


def expected_view(evening: Evening, recorded: Pass) -> dict[str, tuple[float, float]]:
    """Each client's (attended, remaining) hours of the week as of the evening, from the
    schedules and what this pass recorded: attended the minutes of their records; remaining
    their sessions from the evening to Sunday, less those recorded tonight."""
    sunday = evening.day + timedelta(days=6 - evening.day.weekday())
    view = {}
    for client_id, s in evening.schedules.items():
        days = [evening.day + timedelta(n) for n in range((sunday - evening.day).days + 1)]
        left = sum(group_minutes(s, d) + individual_minutes(s, d) for d in days if runs_on(s, d))
        attended = 0
        for kind, length in (("group", group_minutes), ("individual", individual_minutes)):
            outcome = recorded.outcomes.get((client_id, kind))
            if outcome is not None:
                left -= length(s, evening.day)
                attended += outcome[1]
        view[client_id] = (round(attended / 60, 2), round(left / 60, 2))
    return view


async def compliance_view(http: httpx.AsyncClient, week: str, key: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/compliance?week={week}", headers={"X-API-Key": key})
    answer.raise_for_status()
    return {row["client_id"]: row for row in answer.json()["clients"]}


def reflects(rows: dict[str, Any], expected: dict[str, tuple[float, float]]) -> bool:
    """Whether every client's row shows the expected hours (a client without sessions that
    week has no row, which is the same as none attended and none to come)."""
    if not set(rows) <= set(expected):
        return False
    for client_id, hours in expected.items():
        row = rows.get(client_id)
        shown = (0.0, 0.0) if row is None else (row["attended_hours"], row["remaining_hours"])
        if shown != hours:
            return False
    return True


async def time_to_reflect(
    url: str, keys: dict[str, str], evening: Evening, recorded: Pass, timeout_s: float = 120
) -> None:
    """Seconds from the end of the pass until the compliance view shows it all, and how long
    one GET of the view takes."""
    expected = expected_view(evening, recorded)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as http:
        while time.perf_counter() - started < timeout_s:
            asked = time.perf_counter()
            rows = await compliance_view(http, evening.week, keys[NETWORK_KEY])
            recorded.compliance_get_s = time.perf_counter() - asked
            if reflects(rows, expected):
                recorded.reflected_s = time.perf_counter() - started
                return
            await asyncio.sleep(0.05)
    raise TimeoutError("the compliance view never showed the evening as recorded")


async def time_to_judge(url: str, total: int, since: float, timeout_s: float = 1800) -> float:
    """Seconds from ``since`` until the clinic's attendance consumer has judged ``total``
    records (clinic_attendance_records_total, accepted); its progress every 30 s meanwhile."""
    said = since
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        while time.perf_counter() - since < timeout_s:
            judged = accepted((await http.get("/metrics/")).text)
            if judged >= total:
                return time.perf_counter() - since
            if time.perf_counter() - said > 30:
                said = time.perf_counter()
                print(f"  ... consumer judged {judged:.0f} of {total}", file=sys.stderr)
            await asyncio.sleep(0.05)
    raise TimeoutError("the attendance consumer did not judge every record")


def accepted(metrics: str) -> float:
    """How many attendance records the clinic's consumer has judged and accepted."""
    for line in metrics.splitlines():
        if line.startswith('clinic_attendance_records_total{outcome="accepted"}'):
            return float(line.split()[-1])
    return 0.0


# ------------------------------------------------------------------ the broker's floor


async def floor_round_trips(bootstrap: str, count: int) -> list[float]:
    """One record at a time: produce (acks=all) until it is read back from the topic."""
    got: list[float] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        async with RecordReader(
            bootstrap, [FLOOR_TOPIC], name="bench-floor", from_end=True, fetch_max_wait_ms=20
        ) as reader:
            for _ in range(count):
                value = uuid.uuid4().bytes
                started = time.perf_counter()
                await producer.send_and_wait(FLOOR_TOPIC, value)
                while not any(r.value == value for r in await reader.fetch()):
                    pass
                got.append(time.perf_counter() - started)
    finally:
        await producer.stop()
    return got


async def floor_acked_batches(bootstrap: str, size: int, count: int) -> list[float]:
    """``size`` records produced at once (acks=all) until every one is acknowledged."""
    got: list[float] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(count):
            started = time.perf_counter()
            pending = [await producer.send(FLOOR_TOPIC, uuid.uuid4().bytes) for _ in range(size)]
            await asyncio.gather(*pending)
            got.append(time.perf_counter() - started)
    finally:
        await producer.stop()
    return got


# ------------------------------------------------------------------ the report


def percentiles(samples: Sequence[float]) -> str:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return (
        f"p50 {pick(0.50):7.1f} ms  p95 {pick(0.95):7.1f} ms  p99 {pick(0.99):7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms  n={len(ordered)}"
    )


def machine() -> str:
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
         if line.startswith("MemTotal")), "0",
    )  # fmt: skip
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, {int(memory) // 1024 // 1024} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}; load average {load}"
    )


def table(
    evening: Evening, passes: Sequence[Pass], floors: dict[str, list[float]]
) -> Iterator[str]:
    roll_calls = evening.roll_calls()
    in_groups = sum(len(s.clients) for s in roll_calls)
    individual = len(evening.sessions) - len(roll_calls)
    yield (
        f"evening {evening.day.isoformat()} ({DAYS[evening.day.weekday()]}, week {evening.week}): "
        f"{len(roll_calls)} roll calls ({in_groups} records) + {individual} individual sessions "
        f"= {evening.records} records, {len(evening.schedules)} clients placed"
    )
    for done in passes:
        yield f"\nconcurrency {done.concurrency}"
        yield f"  roll call POST -> 201              {percentiles(done.roll_calls)}"
        yield f"  individual session POST -> 201     {percentiles(done.individuals)}"
        rate = evening.records / done.wall_s
        yield f"  whole evening                      {done.wall_s:7.2f} s  ({rate:.0f} records/s)"
        yield (
            f"  compliance view reflects all       {done.reflected_s * 1000:7.1f} ms after the "
            f"last 201 (one GET of the view: {done.compliance_get_s * 1000:.0f} ms)"
        )
        judged = done.judged_s * 1000
        yield f"  attendance consumer judged all     {judged:7.1f} ms after the last 201"
    yield "\nbroker floor (same broker, same run)"
    for name, samples in floors.items():
        yield f"  {name:<35}{percentiles(samples)}"


async def run(bootstrap: str, args: argparse.Namespace, logs: Path) -> list[str]:
    day = the_evening()
    os.environ["IOP_TODAY"] = day.isoformat()  # the contract's window, as the clinic's
    await ensure_topics(bootstrap, {**topics.ALL_TOPICS, FLOOR_TOPIC: 1})
    started = time.perf_counter()
    snapshot, schedules = network(args.seed, args.load, day)
    evening = evening_of(day, schedules)
    placed_s = time.perf_counter() - started
    events = events_of(snapshot, schedules)
    await publish(bootstrap, events)
    keys, keys_setting = api_keys(snapshot["sites"])
    clinic = ClinicProcess(bootstrap, keys_setting, day, logs / "clinic.log")
    clinic.start()
    try:
        ready_s = await clinic.ready()
        lines = [
            f"network: 6 regions x 10 sites, {len(snapshot['groups'])} groups, "
            f"{len(snapshot['enrollments'])} enrollments (seed {args.seed}, load {args.load}); "
            f"first-fit placement {placed_s:.1f} s; {len(events)} events published; "
            f"clinic ready {ready_s:.1f} s after start"
        ]
        passes = await record_passes(clinic.url, keys, evening, args)
        size = round(sum(len(s.clients) for s in evening.roll_calls()) / len(evening.roll_calls()))
        floors = {
            "produce -> consume, 1 record": await floor_round_trips(bootstrap, 300),
            f"produce -> all acked, {size} records": await floor_acked_batches(
                bootstrap, size, 300
            ),
        }
        return [*lines, *table(evening, passes, floors)]
    finally:
        clinic.stop()


async def record_passes(
    url: str, keys: dict[str, str], evening: Evening, args: argparse.Namespace
) -> list[Pass]:
    rng = random.Random(args.seed)
    passes, total = [], 0
    for concurrency in args.concurrency:
        done = await record_evening(url, keys, evening, concurrency, rng)
        ended = time.perf_counter()
        total += evening.records
        await time_to_reflect(url, keys, evening, done)
        done.judged_s = await time_to_judge(url, total, ended)
        passes.append(done)
    return passes


def what_it_does() -> list[str]:
    """The module docstring's description (its paragraphs before the command line)."""
    paragraphs = (__doc__ or "").split("\n\n")
    return [p for p in paragraphs[1:] if not p.startswith("    ")][:2]


def markdown(lines: Sequence[str], command: str, before: str, after: str) -> str:
    broker = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "the embedded Tansu (memory storage)"
    return "\n".join(
        [
            "# Clinic benchmark: a 60-site network's evening of attendance",
            "",
            f"Machine: {before}; when it ended: {os.getloadavg()[0]:.2f}. Broker: {broker}.",
            "The benchmark, its clinic process and the broker share the machine's cores.",
            "",
            "Command (written by the script itself):",
            "",
            f"    {command}",
            "",
            *(paragraph + "\n" for paragraph in what_it_does()),
            "```",
            *lines,
            "```",
            "",
            after,
            "",
        ]
    )


NOTES = (
    "Reading it: a POST's 201 waits for its records' acknowledgements (acks=all), the floor's "
    "second line; everything above that is the clinic's (HTTP, the key, the checks against the "
    "read model, encoding, folding the records in). The compliance view is computed from the "
    "read model on each GET, for every client in the key's scope, so it reflects a record as "
    "soon as its POST has answered; the time shown is one GET. The attendance consumer reads "
    "each record back from the topic and evaluates the client's alerts (hours at risk, "
    "absences): its lag after the last 201 is when the evening's alerts are all out."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency", default="1,8", type=lambda v: [int(x) for x in v.split(",")]
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--load", type=float, default=1.5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    command = " ".join([".venv/bin/python", "bench/clinic.py", *sys.argv[1:]])
    before = machine()
    print(f"machine: {before}")
    with tempfile.TemporaryDirectory() as logs:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            lines = asyncio.run(run(bootstrap, args, Path(logs)))
        else:
            with EmbeddedBroker() as broker:
                lines = asyncio.run(run(broker.bootstrap_servers, args, Path(logs)))
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text(markdown(lines, command, before, NOTES))
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
