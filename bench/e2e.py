"""Enrollment-to-email latency of the whole system at rising rates, beside the broker's round trip.

Starts the system the way `iop up` does (broker, the four services as processes) with an SMTP
server of its own, in this process, that notes when each message arrives. It publishes a roster
with seats to spare (a fresh generated network for each rate: see roomy_network), then for each
rate POSTs distinct enrollments (email consent, no SMS) to intake's HTTP API at that rate for the
step's length and times each from the POST's 202 to its confirmation email's arrival at the SMTP
server. Each client's outcome (placed or waitlisted) is read from `iop.schedule.v1`, and timed
too: a waitlisted client gets no email. Before each step the broker's own produce-to-consume
round trip (acks=all) is measured on the same broker: the floor no service on it can beat.
Figures, not assertions.

    .venv/bin/python bench/e2e.py [--rates 1,2,5,10,20,40] [--step-seconds 20] [--quick]

A rate is sustained when every POST got its 202, every placed client's email arrived within the
step plus the grace period, and latency did not climb over the step (its least-squares trend
against the time of the 202 adds at most 1 s from the step's first 202 to its last: a queue that
grows is a rate not kept up with). Rates rise until one is not sustained. Broker:
KAFKA_BOOTSTRAP_SERVERS if set, else the embedded one.
"""

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from iop_contracts import decode_record, topics
from iop_contracts.consume import RecordReader
from iop_scheduler.solver.generator import MODALITIES, WEEKDAYS
from iop_scheduler.testing import first_day, network, roster_events
from scheduler_service import FLOOR_TOPIC, floor

from iop.broker import ensure_topics, free_port
from iop.roster import publish_events
from iop.system import System, SystemSettings

PLACED_TYPES = {"iop.client.scheduled", "iop.client.rescheduled"}
OUTCOME_TYPES = {*PLACED_TYPES, "iop.client.waitlisted"}
# The sites' opening hours (the generator's windows): clients free at any of them.
OPEN_HOURS = [
    *({"day": day, "start": "16:30", "end": "22:00"} for day in WEEKDAYS),
    *({"day": day, "start": "08:00", "end": "18:00"} for day in ("sat", "sun")),
]
OPEN_THERAPIST = {
    "telehealth": True,
    "credentials": ["LCSW", "LADC"],
    "modalities": list(MODALITIES),
    "populations": ["adult", "adolescent"],
    "languages": ["en", "es"],
    "availability": OPEN_HOURS,
    "max_weekly_hours": 40,
    "max_caseload": 40,
}
CLIENT_GENDER = {"any": "undisclosed", "women": "woman", "men": "man"}
# Requested starts a week after the network opens: no first-session reminder falls due during the
# run, so the first email a client gets is the confirmation.
START_LATER = timedelta(days=7)
# Latency that climbs over a step is a queue building up: the rate is not kept up with. The
# latency's trend (least squares against the time of the 202) may add this much over the step.
CLIMB_LIMIT_S = 1.0
FLOOR_SECONDS = 5.0
RESULTS = Path(__file__).parent / "results" / "e2e.md"
BEGIN = "<!-- bench/e2e.py writes from here -->"
END = "<!-- bench/e2e.py wrote up to here -->"


# ---------------------------------------------------------------------------- observers
class MailArrivals:
    """An aiosmtpd handler: accepts every message and notes when the first one for each recipient
    arrived (perf_counter, the clock the sender uses)."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.messages = 0

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        arrived = time.perf_counter()
        self.messages += 1
        for recipient in envelope.rcpt_tos:
            self.first.setdefault(recipient.lower(), arrived)
        return "250 Message accepted for delivery"


class Outcomes:
    """Each client's answer on `iop.schedule.v1` (placed or waitlisted), read as it comes, with
    when it was read and, for a waitlisted client, the reasons."""

    def __init__(self, kafka: Any) -> None:
        self.kafka = kafka
        self.by_client: dict[str, str] = {}
        self.read_at: dict[str, float] = {}
        self.reasons: dict[str, list[str]] = {}
        self.ready = asyncio.Event()

    async def follow(self) -> None:
        async with RecordReader(
            self.kafka, [topics.SCHEDULE], name="bench-e2e", from_end=True, fetch_max_wait_ms=50
        ) as reader:
            self.ready.set()
            while True:
                for record in await reader.fetch():
                    event = decode_record(record.value)
                    if event.type in OUTCOME_TYPES and event.subject:
                        self.note(event.subject, event.type, event.data)

    def note(self, client_id: str, event_type: str, data: dict[str, Any]) -> None:
        self.by_client[client_id] = event_type  # the latest answer holds
        self.read_at.setdefault(client_id, time.perf_counter())
        self.reasons[client_id] = list(data.get("reasons", []))

    def placed(self, client_id: str) -> bool:
        return self.by_client.get(client_id) in PLACED_TYPES


# ---------------------------------------------------------------------------- load
def roomy_network(prefix: str, count: int) -> dict[str, Any]:
    """A generated network (ids starting with `prefix`, two sites a region) made roomy, with as
    many regions as `count` clients need: each group takes at most half its seats, every
    therapist can facilitate any group and see any client of the region at any hour the sites
    open, and no group has a fixed facilitator (the generator's therapists are scarce on purpose,
    which is the solver's benchmark, not this one)."""
    regions = 1
    while True:
        snapshot = network(prefix, regions=regions, sites=2, load=0.0)
        if sum(half(group) for group in snapshot["groups"]) >= count:
            break
        regions += 1
    sites_of: dict[str, list[str]] = {}
    for site in snapshot["sites"]:
        sites_of.setdefault(site["region_id"], []).append(site["site_id"])
    region_of = {site["site_id"]: site["region_id"] for site in snapshot["sites"]}
    snapshot["therapists"] = [
        {**t, **OPEN_THERAPIST, "site_ids": sites_of[region_of[t["site_ids"][0]]]}
        for t in snapshot["therapists"]
    ]
    snapshot["groups"] = [{**group, "facilitator_id": None} for group in snapshot["groups"]]
    return snapshot


def half(group: dict[str, Any]) -> int:
    return int(group["capacity"]) // 2


def clients_for(snapshot: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` enrollments, each like a group with seats left (its track, population, language
    and site), taken round-robin over the regions so that every lane of the scheduler works."""
    start = (first_day() + START_LATER).isoformat()
    region_of = {site["site_id"]: site["region_id"] for site in snapshot["sites"]}
    seats = [group for group in snapshot["groups"] for _ in range(half(group))]
    by_region: dict[str, list[dict[str, Any]]] = {}
    for group in seats:
        by_region.setdefault(region_of[group["site_id"]], []).append(group)
    dealt = [g for row in itertools.zip_longest(*by_region.values()) for g in row if g]
    return [client(index, group, region_of, start) for index, group in enumerate(dealt[:count])]


def client(
    index: int, group: dict[str, Any], region_of: dict[str, str], start: str
) -> dict[str, Any]:
    region_id = region_of[group["site_id"]]
    client_id = f"{region_id}-c{index:04d}"
    return {
        "client_id": client_id,
        "region_id": region_id,
        "track": group["track"],
        "population": group["population"],
        "gender": CLIENT_GENDER[group["gender"]],
        "language": group["language"],
        "preferred_site_ids": [group["site_id"]],
        "accepts_telehealth": True,
        "availability": OPEN_HOURS,
        "requested_start": start,
        "program_weeks": 8,
        "contact": {
            "first_name": "Client",
            "email": f"{client_id}@example.org",
            "email_consent": True,
        },
    }


@dataclass
class Step:
    rate: float
    enrollments: list[dict[str, Any]]
    roster: dict[str, Any]
    accepted: dict[str, float] = field(default_factory=dict)  # client -> when its 202 came
    refused: dict[str, int] = field(default_factory=dict)  # client -> status (0: no answer)
    post_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)
    finished_at: float = 0.0


def plan(rates: list[float], step_seconds: float) -> list[Step]:
    run_id = uuid.uuid4().hex[:6]
    steps = []
    for index, rate in enumerate(rates):
        count = round(rate * step_seconds)
        roster = roomy_network(f"e{run_id}s{index}", count)
        steps.append(Step(rate, clients_for(roster, count), roster))
    return steps


async def post_one(http: httpx.AsyncClient, enrollment: dict[str, Any], step: Step) -> None:
    client_id = enrollment["client_id"]
    began = time.perf_counter()
    try:
        response = await http.post("/v1/enrollments", json=enrollment)
    except httpx.HTTPError:
        step.refused[client_id] = 0
        return
    answered = time.perf_counter()
    if response.status_code == 202:
        step.accepted[client_id] = answered
        step.post_s.append(answered - began)
    else:
        step.refused[client_id] = response.status_code


async def send(http: httpx.AsyncClient, step: Step) -> None:
    """POST the step's enrollments at its rate, each on schedule whether or not earlier ones
    have been answered (an open loop: a slow answer does not slow the offered load)."""
    started = time.perf_counter()
    posts = []
    for index, enrollment in enumerate(step.enrollments):
        delay = started + index / step.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        posts.append(asyncio.create_task(post_one(http, enrollment, step)))
    await asyncio.gather(*posts)


# ---------------------------------------------------------------------------- figures
def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def email_of(enrollment: dict[str, Any]) -> str:
    return str(enrollment["contact"]["email"]).lower()


@dataclass
class Figures:
    step: Step
    placed: int
    waitlisted: int
    latencies: list[float]  # 202 to email, placed clients emailed by the deadline
    accepted_at: list[float]  # when each of those clients' 202 came, the same order
    late: int  # placed clients with no email by the deadline
    answers: list[float]  # 202 to the client's answer read from iop.schedule.v1
    mailing: list[float]  # that answer read to the email's arrival, placed clients emailed
    waitlist_reasons: Counter[str]

    @classmethod
    def of(cls, step: Step, outcomes: Outcomes, mail: MailArrivals, deadline: float) -> "Figures":
        placed = [e for e in step.enrollments if outcomes.placed(e["client_id"])]
        waitlisted = sum(
            outcomes.by_client.get(e["client_id"]) == "iop.client.waitlisted"
            for e in step.enrollments
        )
        latencies, accepted_at, mailing = [], [], []
        for enrollment in placed:
            client_id = enrollment["client_id"]
            arrived = mail.first.get(email_of(enrollment))
            if arrived is not None and arrived <= deadline:
                latencies.append(arrived - step.accepted[client_id])
                accepted_at.append(step.accepted[client_id])
                mailing.append(arrived - outcomes.read_at[client_id])
        answers = [
            outcomes.read_at[client_id] - accepted
            for client_id, accepted in step.accepted.items()
            if client_id in outcomes.read_at
        ]
        reasons = Counter(
            reason
            for e in step.enrollments
            if not outcomes.placed(e["client_id"])
            for reason in outcomes.reasons.get(e["client_id"], [])
        )
        late = len(placed) - len(latencies)
        return cls(
            step, len(placed), waitlisted, latencies, accepted_at, late, answers, mailing, reasons
        )

    @property
    def unanswered(self) -> int:
        return len(self.step.accepted) - self.placed - self.waitlisted

    def climb(self) -> float:
        """What the latency's trend adds from the step's first 202 to its last."""
        if len(self.latencies) < 3:
            return 0.0
        trend = statistics.linear_regression(self.accepted_at, self.latencies)
        return trend.slope * (max(self.accepted_at) - min(self.accepted_at))

    @property
    def sustained(self) -> bool:
        if self.step.refused or self.late or self.unanswered or not self.latencies:
            return False
        return self.climb() <= CLIMB_LIMIT_S


async def settle(step: Step, outcomes: Outcomes, mail: MailArrivals, deadline: float) -> None:
    """Wait until every accepted client is answered and every placed one emailed, or `deadline`."""

    def done() -> bool:
        for enrollment in step.enrollments:
            client_id = enrollment["client_id"]
            if client_id not in step.accepted:
                continue
            if client_id not in outcomes.by_client:
                return False
            if outcomes.placed(client_id) and email_of(enrollment) not in mail.first:
                return False
        return True

    while not done() and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)


async def run_step(
    step: Step, system: System, outcomes: Outcomes, mail: MailArrivals, grace_s: float
) -> Figures:
    step.floor_s = await floor(system.bootstrap_servers, max(step.rate, 10.0), FLOOR_SECONDS)
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=30, limits=limits) as http:
        await send(http, step)
    step.finished_at = time.perf_counter()
    deadline = step.finished_at + grace_s
    await settle(step, outcomes, mail, deadline)
    return Figures.of(step, outcomes, mail, deadline)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


HEADER = (
    "| rate /s | sent | 202 | placed / waitlisted | emailed | POST to 202 p50 ms "
    "| 202 to schedule p50 / p95 ms | schedule to email p50 / p95 ms "
    "| 202 to email p50 / p95 / p99 ms "
    "| latency climb over the step ms | broker round trip p50 / p95 ms | sustained |"
)
TABLE_HEAD = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]


def row(figures: Figures) -> str:
    step, lat = figures.step, figures.latencies
    email = spread(lat, (0.5, 0.95, 0.99))
    trend = ms(figures.climb()) if lat else "-"
    verdict = "yes" if figures.sustained else why_not(figures)
    return (
        f"| {step.rate:g} | {len(step.enrollments)} | {len(step.accepted)} "
        f"| {figures.placed} / {figures.waitlisted} | {len(lat)} | {spread(step.post_s, (0.5,))} "
        f"| {spread(figures.answers, (0.5, 0.95))} | {spread(figures.mailing, (0.5, 0.95))} "
        f"| {email} | {trend} "
        f"| {spread(step.floor_s, (0.5, 0.95))} | {verdict} |"
    )


def spread(samples: list[float], qs: tuple[float, ...]) -> str:
    return " / ".join(ms(quantile(samples, q)) for q in qs) if samples else "-"


def why_not(figures: Figures) -> str:
    reasons = []
    if figures.step.refused:
        reasons.append(f"{len(figures.step.refused)} POSTs not 202")
    if figures.unanswered:
        reasons.append(f"{figures.unanswered} unanswered")
    if figures.late:
        reasons.append(f"{figures.late} emails late")
    if not reasons:
        reasons.append(f"latency climbed {figures.climb():.1f} s")
    return "no: " + ", ".join(reasons)


def table(results: list[Figures]) -> list[str]:
    return [*TABLE_HEAD, *map(row, results)]


def waitlisted_lines(results: list[Figures]) -> list[str]:
    """Why the few clients who were not placed waited (the service places in micro-batches,
    each keeping the clients placed before it where they are)."""
    lines = []
    for figures in results:
        if figures.waitlist_reasons:
            told = ", ".join(f"{r} {n}" for r, n in figures.waitlist_reasons.most_common())
            lines.append(f"- {figures.step.rate:g}/s: {told}")
    return ["", "Waitlist reasons (a client may have several):", "", *lines] if lines else []


def highest_sustained(results: list[Figures]) -> str:
    best = None
    for figures in results:
        if not figures.sustained:
            break
        best = figures.step.rate
    return f"{best:g} enrollments/s" if best is not None else "none of the rates tried"


# ---------------------------------------------------------------------------- the run
def system_for(state_dir: Path, smtp_port: int) -> System:
    """The system as `iop up` starts it, its notifier sending to our SMTP server, intake open."""
    settings = SystemSettings.isolated(state_dir)
    settings.smtp_host, settings.smtp_port = "127.0.0.1", smtp_port
    settings.intake_auth_disabled = True
    system = System(settings)
    # Our server on loopback speaks no TLS, like the system's own sink.
    system.extra_env["notifier"] = {"NOTIFIER_SMTP_TLS": "plaintext"}
    return system


async def publish_rosters(system: System, steps: list[Step]) -> None:
    await ensure_topics(system.kafka, {FLOOR_TOPIC: 1})
    events = [event for step in steps for event in roster_events(step.roster)]
    await publish_events(system.kafka, events)


async def measure(
    system: System, steps: list[Step], mail: MailArrivals, grace_s: float
) -> list[Figures]:
    """Each step in turn, until one is not sustained (later ones would measure its backlog)."""
    outcomes = Outcomes(system.kafka)
    following = asyncio.create_task(outcomes.follow())
    results: list[Figures] = []
    try:
        async with asyncio.timeout(30):
            await outcomes.ready.wait()
        print("\n".join(TABLE_HEAD), flush=True)
        for step in steps:
            figures = await run_step(step, system, outcomes, mail, grace_s)
            results.append(figures)
            print(row(figures), flush=True)
            if not figures.sustained:
                break
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    return results


def run(rates: list[float], step_seconds: float, grace_s: float) -> list[Figures]:
    steps = plan(rates, step_seconds)
    mail = MailArrivals()
    smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as state:
            system = system_for(Path(state), smtp.port)
            try:
                system.start_infrastructure()
                asyncio.run(publish_rosters(system, steps))
                system.start_services(ready_timeout_s=120)
                return asyncio.run(measure(system, steps, mail, grace_s))
            finally:
                system.stop()
    finally:
        smtp.stop()


# ---------------------------------------------------------------------------- the report
def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    model = f' ("{models[0]}")' if models else ""
    return f"{os.cpu_count()} CPUs{model}, {platform.system()} {platform.machine()}"


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def loads(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def report(
    results: list[Figures], command: str, step_seconds: float, grace_s: float, load: str
) -> list[str]:
    broker = (
        "KAFKA_BOOTSTRAP_SERVERS"
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        else ("the embedded Tansu, memory storage")
    )
    return [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit {commit()}: {machine()}, "
        f"Python {platform.python_version()}; broker: {broker}. Load average (1 / 5 / 15 min) "
        f"{load}. Each rate: {step_seconds:g} s of POSTs, then up to {grace_s:g} s of grace.",
        "",
        "Command:",
        "",
        f"    {command}",
        "",
        *table(results),
        "",
        f"Highest sustained rate: {highest_sustained(results)}.",
        *waitlisted_lines(results),
    ]


INTRODUCTION = """# End-to-end benchmark: enrollment POST to confirmation email

`bench/e2e.py` starts the whole system as `iop up` does (the broker, then intake, scheduler,
notifier and clinic as processes, each with its defaults) with an SMTP server of its own that
notes when each message arrives. For each rate it publishes a fresh generated network with seats
to spare: two sites a region, as many regions as the step needs, each group filled to at most
half its seats, no fixed facilitators, and the generator's therapists opened up to any group and
client of their region at any hour the sites open (the generator makes therapists scarce on
purpose, which is the solver's benchmark, not this one). It then POSTs distinct enrollments (each
like a group with seats left; email consent, no SMS) to intake's `/v1/enrollments` at that rate,
open loop (each on time whether or not earlier ones were answered), and times each from its 202
to the arrival of its confirmation email at the SMTP server. Each outcome (placed or waitlisted:
a waitlisted client gets no email) is read from `iop.schedule.v1` as it comes, which splits each
journey in two: 202 to the schedule event (intake and scheduler) and schedule event to the email
(notifier and SMTP). Before each rate the broker's
own produce-to-consume round trip (acks=all) is measured on the same broker, at the same rate (at
least 10 records/s) for 5 s.

A rate is *sustained* when every POST got its 202, every placed client's email arrived within the
step plus the grace period, and latency did not climb over the step: its least-squares trend
against the time of the 202 adds at most 1 s from the step's first 202 to its last (a queue that
grows is a rate not kept up with). Rates rise until one is not sustained; the highest sustained
rate is the last one before it.

"""


def write_results(path: Path, lines: list[str]) -> None:
    """Replace the script's part of `path` (between its markers), keeping what was written
    around it by hand; a new file gets the introduction."""
    block = "\n".join([BEGIN, *lines, END])
    text = path.read_text() if path.exists() else INTRODUCTION + BEGIN + "\n" + END + "\n"
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    path.write_text(before + block + after)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="1,2,5,10,20,40", help="enrollments per second, rising")
    parser.add_argument("--step-seconds", type=float, default=20.0)
    parser.add_argument("--grace-seconds", type=float, default=15.0)
    parser.add_argument("--quick", action="store_true", help="2 and 10 per second, 8 s each")
    parser.add_argument("--out", type=Path, help=f"results file (default {RESULTS}, none if quick)")
    args = parser.parse_args()
    rates = [2.0, 10.0] if args.quick else [float(r) for r in args.rates.split(",")]
    step_seconds = 8.0 if args.quick else args.step_seconds
    out = args.out or (None if args.quick else RESULTS)
    command = " ".join([".venv/bin/python", "bench/e2e.py", *sys.argv[1:]])
    load_before = os.getloadavg()
    print(f"{machine()}; load average {loads(load_before)}", flush=True)
    results = run(rates, step_seconds, args.grace_seconds)
    load = f"{loads(load_before)} before, {loads(os.getloadavg())} after"
    lines = report(results, command, step_seconds, args.grace_seconds, load)
    print("\n" + "\n".join(lines))
    if out is not None:
        write_results(out, lines)
        print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
