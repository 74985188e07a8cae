"""Faults: every bad record costs only itself, with the four services as separate processes.

One run of the scenario (tests/faults/scenario.py) is shared by the tests below: 300 enrollments
over HTTP and Kafka, malformed records of every kind on every input topic, two weeks of missed
sessions for one client, and each service killed with SIGKILL and started again while the work
flows. Judged only through Kafka, the SMTP sink, the health endpoints and the services' own
logs: every enrollment answered once, every placement valid, every consenting client emailed
once, every alert announced once, every bad record dead-lettered once and nothing else, and
health that tells the truth.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from iop_contracts import topics
from iop_notifier.domain.ledger import Purpose
from iop_notifier.messages.render import message_id
from iop_notifier.settings import NotifierSettings
from iop_scheduler.solver import generate, validate_output

from iop.roster import publish_events, roster_events
from iop.system import SERVICES
from tests.faults.harness import REBUILT_LOG, FaultSystem, dead_lettered_faults, fault_of, log_time
from tests.faults.records import INPUT_TOPICS, KINDS
from tests.faults.scenario import (
    CLIENTS,
    CLINIC_AHEAD,
    KILL_ORDER,
    REGIONS,
    Outcome,
    describe,
    roster_of,
    run,
    submitted_clients,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

# Who dead-letters each input topic (dlq_consumer): the scheduler's client id is its default.
OWNERS = {
    topics.ROSTER: "iop-scheduler",
    topics.REFERRAL: "iop-intake",
    topics.ENROLLMENT: "iop-scheduler",
    topics.SCHEDULE: "iop-notifier",
    topics.ATTENDANCE: "iop-clinic-attendance",
}
WAVES = 1 + len(KILL_ORDER)  # one while everything runs, one while each service is down


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    today = datetime.now(UTC).date()
    network = generate(
        11, regions=REGIONS, sites_per_region=1, load=0.8, start=today + timedelta(days=3)
    )
    clients = submitted_clients(network)
    system = FaultSystem(
        tmp_path_factory.mktemp("faults"),
        unique=f"{time.time_ns():x}",
        clinic_today=today + CLINIC_AHEAD,
    )
    system.start_infrastructure()
    print(f"\nfaults scenario: logs in {system.run_dir}")
    try:
        asyncio.run(publish_events(system.bootstrap_servers, roster_events(roster_of(network))))
        result = asyncio.run(run(system, network, clients))
        print(*describe(result), sep="\n")
        yield result
    finally:
        system.stop()


# ------------------------------------------------------------------ good work


def test_every_good_enrollment_is_answered_exactly_once(outcome: Outcome) -> None:
    """One event per client on iop.schedule.v1, scheduled or waitlisted: nothing repeated,
    nobody moved, nothing for anyone else (the bad records' clients included)."""
    assert outcome.refused == {}, "intake took every good enrollment"
    per_client = Counter(e.subject for e in outcome.schedule)
    assert set(per_client) == set(outcome.clients)
    assert {c: n for c, n in per_client.items() if n != 1} == {}
    kinds = Counter(e.type for e in outcome.schedule)
    assert set(kinds) == {"iop.client.scheduled", "iop.client.waitlisted"}, kinds


def test_every_placement_passes_the_checker(outcome: Outcome) -> None:
    # The scheduler's today is its regions' (west of UTC): never later than the run's UTC day.
    snapshot = {
        **roster_of(outcome.network),
        "enrollments": list(outcome.clients.values()),
        "schedules": [],
        "as_of": (outcome.began_on - timedelta(days=1)).isoformat(),
    }
    placed = [e.data for e in outcome.answers if e.type == "iop.client.scheduled"]
    waiting = [e.data for e in outcome.answers if e.type == "iop.client.waitlisted"]
    assert len(placed) >= CLIENTS // 4 and waiting, "the checker has placements to check"
    findings = validate_output(snapshot, {"scheduled": placed, "waitlisted": waiting})
    assert [str(f) for f in findings] == []


def test_every_consenting_client_is_emailed_exactly_once(outcome: Outcome) -> None:
    """Each placed client who consented gets one confirmation and is reported sent; nobody else
    gets any. One exception, the notifier's documented limit (docs/reliability.md, Known
    limits): a send that the notifier's kill interrupted is reported ``failed possibly_sent``
    and never sent again, so that client has one email or none. The worker sends one message
    at a time, so the one kill interrupts one send at most."""
    domain = NotifierSettings().message_domain
    placed = {str(e.subject) for e in outcome.answers if e.type == "iop.client.scheduled"}
    consenting = {c for c in placed if outcome.clients[c]["contact"]["email_consent"]}
    assert placed - consenting, "some placed clients said no to email"
    ids = {c: message_id(c, 1, Purpose.CONFIRM, domain) for c in consenting}
    received = Counter(str(m["Message-ID"]) for m in outcome.mailbox)
    assert set(received) <= set(ids.values()), "nobody else emailed"
    assert max(received.values()) == 1, "nobody emailed twice"
    interrupted = {c for c in consenting if email_outcomes(outcome, c) == {"failed possibly_sent"}}
    assert len(interrupted) <= 1, "one kill interrupts one send at most"
    wrong = {
        c: (received[ids[c]], email_outcomes(outcome, c))
        for c in consenting - interrupted
        if (received[ids[c]], email_outcomes(outcome, c)) != (1, {"sent None"})
    }
    assert wrong == {}, "clients not emailed once and reported sent: (emails, reports)"


def email_outcomes(outcome: Outcome, client: str) -> set[str]:
    """What the notifier reported about the client's email: ``<outcome> <reason>``."""
    return {
        f"{e.type.removeprefix('iop.notification.')} {e.data.get('reason')}"
        for e in outcome.notifications
        if e.subject == client and e.data.get("channel") == "email"
    }


def test_the_clinic_announces_each_shortfall_once_across_its_kill(outcome: Outcome) -> None:
    """The absentee missed every group session of its first two whole weeks, the first week's
    roll call before the clinic's kill and the second's after its restart. The restarted clinic
    evaluated the absentee again (its clock's first look, the second week's records) and
    announced the second week, so it had the first in mind: each week out of reach once, the
    one streak of absences once, and nothing about anyone else. The streak's alert is dated at
    the last absence the clinic had read when it evaluated, from the second on: its table
    reader may read a roll call's later records before its consumer evaluates an earlier one."""
    absentee = outcome.absentee
    client = absentee.client_id
    at_risk = Counter(
        (e.subject, e.data["week"]) for e in outcome.alerts if e.type == "iop.client.hours_at_risk"
    )
    assert at_risk == Counter({(client, week): 1 for week in absentee.weeks})
    streaks = [e for e in outcome.alerts if e.type == "iop.client.attendance_alert"]
    assert [e.subject for e in streaks] == [client]
    missed = sorted(day for week in absentee.weeks for day in absentee.missed(week))
    assert streaks[0].data["last_date"] in {day.isoformat() for day in missed[1:]}
    assert {e.subject for e in outcome.alerts} == {client}


# ------------------------------------------------------------------ bad records


def test_every_bad_record_is_dead_lettered_exactly_once_and_nothing_else(
    outcome: Outcome,
) -> None:
    """In its own topic's dead-letter topic, by that topic's owner, key and value intact."""
    injected = {r.fault_id: r for r in outcome.injected}
    assert len(injected) == len(outcome.injected) == WAVES * len(INPUT_TOPICS) * len(KINDS)
    assert dead_lettered_faults(outcome.letters) == Counter(dict.fromkeys(injected, 1))
    for topic, letters in outcome.letters.items():
        for letter in letters:
            record = injected[str(fault_of(letter))]
            assert (record.topic, letter.key, letter.value) == (topic, record.key, record.value)
            assert letter.headers["dlq_consumer"].decode() == OWNERS[topic]
            assert letter.headers["dlq_reason"], "every dead letter says why"
            datetime.strptime(letter.headers["dlq_at"].decode(), "%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ health


def test_liveness_answers_200_all_along(outcome: Outcome) -> None:
    for service in SERVICES:
        answered = [p for p in outcome.probes if p.service == service and p.live is not None]
        assert len(answered) > 20, f"{service} was probed"
        failed: dict[int, list[str]] = {}
        for p in answered:
            if p.live != 200:
                failed.setdefault(p.generation, []).append(time.strftime("%X", time.gmtime(p.at)))
        spans = {g: f"{len(t)} times, {t[0]}-{t[-1]} UTC" for g, t in failed.items()}
        assert spans == {}, f"{service} said it was not alive (by generation)"


def test_readiness_comes_only_after_the_rebuild(outcome: Outcome) -> None:
    """Each start (the first, and after each kill) answers 503 first and 200 only after the
    rebuild its service logs; intake, once ready again, knows every status the topics held
    before its kill."""
    assert [(s.service, s.generation) for s in outcome.starts] == [
        *((service, 0) for service in SERVICES),
        *((service, 1) for service in KILL_ORDER),
    ]
    for start in outcome.starts:
        lines = outcome.system.log_lines(start.service, start.generation)
        rebuilt = [log_time(e) for e in lines if e.get("msg") == REBUILT_LOG[start.service]]
        assert rebuilt and rebuilt[0] <= start.first_ready.at, (start.service, start.generation)
        ready = [p.ready for p in outcome.probes_of(start) if p.ready is not None]
        assert set(ready) <= {200, 503}, start.service
        assert ready[0] == 503, f"{start.service} said ready before it rebuilt"
    intake = next(s for s in outcome.starts if (s.service, s.generation) == ("intake", 1))
    assert intake.expected, "clients were answered before intake was killed"
    assert intake.statuses == {c: (200, status) for c, status in intake.expected.items()}


def test_a_restarted_scheduler_rebuilds_every_region_before_answering(outcome: Outcome) -> None:
    """By the kill every region has history: the restarted scheduler (the group's only
    member) rebuilds them all before it says ready."""
    restart = next(s for s in outcome.starts if (s.service, s.generation) == ("scheduler", 1))
    lines = outcome.system.log_lines("scheduler", restart.generation)
    rebuilt = [e for e in lines if e.get("msg") == REBUILT_LOG["scheduler"]]
    assert rebuilt[0]["count"] == REGIONS
