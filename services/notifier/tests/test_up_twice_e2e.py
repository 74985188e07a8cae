"""`iop up` twice in a row with the same sample data sends the confirmations both times.

Each run is what `iop up` starts (a fresh embedded broker, the SMTP sink, the three services as
processes) driven the way `iop demo` drives it. Both runs share the notifier's ledger file, as a
ledger kept in `.iop/` is shared (NOTIFIER_LEDGER_PATH pins it; without it each run would get a
ledger of its own and the test would prove nothing): the second run's broker hands out the same
client ids and schedule versions as the first, which the ledger must not take for old ones.
"""

import asyncio
import email
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from iop_notifier.domain.ledger import Purpose
from iop_notifier.messages.render import message_id
from iop_notifier.settings import NotifierSettings

from iop.demo import DemoOutcome, drive, sample, shifted
from iop.roster import publish_events, roster_events
from iop.system import System, SystemSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def up_and_enroll(state: Path, network: dict[str, Any], enrollments: list[dict]) -> DemoOutcome:
    system = System(SystemSettings.isolated(state))
    system.start_infrastructure()
    try:
        asyncio.run(publish_events(system.bootstrap_servers, roster_events(network)))
        system.start_services()
        return asyncio.run(drive(system, network, enrollments))
    finally:
        system.stop()


def confirmed_by_email(outcome: DemoOutcome) -> dict[str, int]:
    """Placed clients the notifier reported an email as sent for: client id -> version."""
    sent = {
        (e.subject, e.data["schedule_version"])
        for e in outcome.notifications
        if e.type == "iop.notification.sent" and e.data["channel"] == "email"
    }
    return {c: v for c, v in sent if c is not None}


def test_up_twice_with_one_ledger_confirms_both_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"],
        date.today() + timedelta(days=3),
    )  # fmt: skip
    enrollments = enrollments[::6]  # ten clients from both regions keep two runs quick
    monkeypatch.setenv("NOTIFIER_LEDGER_PATH", str(tmp_path / "notifier-ledger.sqlite3"))
    emailable = {e["client_id"] for e in enrollments if e["contact"]["email_consent"]}

    runs = [up_and_enroll(tmp_path / "iop", network, enrollments) for _ in range(2)]

    placed = [{e.subject: e.data["schedule_version"] for e in run.placed} for run in runs]
    assert placed[0], "the first run placed nobody: nothing to confirm"
    assert placed[1] == placed[0], "the second broker hands out the same clients and versions"
    expected = {c: v for c, v in placed[0].items() if c in emailable}
    assert expected
    for run in runs:
        assert confirmed_by_email(run) == expected, "every run confirms every placed client"

    domain = NotifierSettings().message_domain
    outbox = tmp_path / "iop" / "outbox"
    received = [email.message_from_bytes(p.read_bytes())["Message-ID"] for p in outbox.iterdir()]
    for client, version in expected.items():
        assert received.count(message_id(client, version, Purpose.CONFIRM, domain)) == 2
