"""End to end: the three services as separate processes on a real broker and a real SMTP server.

Driven only through Kafka (roster) and HTTP (enrollments); checked only through Kafka (schedule and
notification topics) and the SMTP server's mailbox, the way a provider network sees the system.
"""

import asyncio
import email
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from iop_contracts import topics
from iop_scheduler.solver import validate_output

from iop.demo import post_enrollments, sample, shifted
from iop.observe import latest_by_subject, read_events
from iop.roster import publish_events, roster_events
from iop.system import System, SystemSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PLACED = {"iop.client.scheduled", "iop.client.rescheduled"}


@pytest.fixture(scope="module")
def network_and_enrollments() -> tuple[dict, list[dict]]:
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"],
        date.today() + timedelta(days=3),
    )  # fmt: skip
    return network, enrollments[::4]  # fifteen clients from both regions keep the test quick


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, network_and_enrollments):  # type: ignore[no-untyped-def]
    network, _ = network_and_enrollments
    running = System(SystemSettings.isolated(tmp_path_factory.mktemp("iop")))
    running.start_infrastructure()
    try:
        asyncio.run(publish_events(running.bootstrap_servers, roster_events(network)))
        running.start_services()
        yield running
    finally:
        running.stop()


def test_enrollments_over_http_come_back_as_valid_schedules_and_emails(
    system: System, network_and_enrollments: tuple[dict, list[dict]]
) -> None:
    network, enrollments = network_and_enrollments
    rejected = asyncio.run(post_enrollments(system.url("intake"), enrollments))
    assert rejected == {}
    clients = {e["client_id"] for e in enrollments}

    def answered(events: list) -> bool:
        return clients <= {e.subject for e in events}

    events = asyncio.run(read_events(system.bootstrap_servers, topics.SCHEDULE, answered, 60))
    outcome = {c: e for c, e in latest_by_subject(events).items() if c in clients}
    assert set(outcome) == clients, "every enrollment is answered on iop.schedule.v1"
    placed = [e for e in outcome.values() if e.type in PLACED]
    waiting = [e for e in outcome.values() if e.type == "iop.client.waitlisted"]
    assert len(placed) >= 10
    for event in outcome.values():
        assert event.correlationid, "schedule events carry the enrollment's correlation id"
        assert event.causationid
    snapshot = {**network, "enrollments": enrollments, "schedules": []}
    findings = validate_output(
        snapshot, {"scheduled": [e.data for e in placed], "waitlisted": [e.data for e in waiting]}
    )
    assert findings == []

    emailed = {
        e.subject for e in placed
        if next(x for x in enrollments if x["client_id"] == e.subject)["contact"]["email_consent"]
    }  # fmt: skip

    def notified(events: list) -> bool:
        return emailed <= {e.subject for e in events if e.type == "iop.notification.sent"}

    notes = asyncio.run(read_events(system.bootstrap_servers, topics.NOTIFICATION, notified, 60))
    sent = {e.subject for e in notes if e.type == "iop.notification.sent"}
    assert emailed <= sent

    mailbox = [email.message_from_bytes(p.read_bytes()) for p in Path(system.outbox).glob("*.eml")]
    recipients = {m["To"] for m in mailbox}
    for client in emailed:
        address = next(x for x in enrollments if x["client_id"] == client)["contact"]["email"]
        assert any(address in (to or "") for to in recipients), "one email per consenting client"


def test_no_service_log_holds_a_name_email_or_phone_of_the_test_data(
    system: System, network_and_enrollments: tuple[dict, list[dict]]
) -> None:
    """Runs after the journey above, on the same system: every line each process wrote."""
    _, enrollments = network_and_enrollments
    logs = {p.name: p.read_text(errors="replace") for p in Path(system.run_dir).glob("*.log")}
    assert {"intake.log", "scheduler.log", "notifier.log"} <= set(logs)
    assert all(logs[name] for name in ("intake.log", "scheduler.log", "notifier.log"))
    for enrollment in enrollments:
        contact = enrollment["contact"]
        address = contact.get("email") or ""
        values = [address, address.split("@")[0], contact.get("phone")]
        patterns = [re.escape(v) for v in values if v]
        patterns.append(rf"\b{re.escape(contact['first_name'])}\b")
        for name, text in logs.items():
            for pattern in patterns:
                assert not re.search(pattern, text), f"{name} holds personal data ({pattern[:4]}…)"
