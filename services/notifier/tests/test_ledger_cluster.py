"""The ledger belongs to one broker: same broker carries on, an older ledger adopts it, another
broker sets it aside and starts fresh, or refuses when the old ledger still owes work."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from iop_contracts.values import Channel
from iop_notifier.adapters.ledger_sqlite import (
    LedgerOfAnotherCluster,
    SqliteLedger,
    open_for_cluster,
    set_aside_path,
)
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose
from iop_notifier.domain.phones import PhoneDigests

from .factories import schedule

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIRST = "tansu_cluster/iop.schedule.v1/01a22cac-5d91-73c1-bcc4-19efdab8412e"
SECOND = "tansu_cluster/iop.schedule.v1/01a22cac-7155-7bf1-bcba-7ea80f530544"
PHONE = "+16175550101"
DIGESTS = PhoneDigests(b"test-phone-digest-key-0123456789abcdef")


def queue(ledger: SqliteLedger, client: str, version: int = 1) -> bool:
    """What the schedule consumer does with a client.scheduled event."""
    return ledger.record_schedule(
        event_id=f"ev-{client}-{version}",
        client_id=client,
        schedule_version=version,
        schedule_json=schedule(client, version).model_dump_json(),
        correlation_id="corr",
    )


def sent(ledger: SqliteLedger, client: str, *, reported: bool = True) -> None:
    """A confirmation that went out (and, unless told otherwise, was reported)."""
    queue(ledger, client)
    [notice] = [n for n in ledger.unplanned() if n.client_id == client]
    ledger.plan(notice, {Channel.EMAIL: (DeliveryState.PENDING, None)}, NOW)
    key = DeliveryKey(client, 1, Purpose.CONFIRM, Channel.EMAIL)
    ledger.move(key, DeliveryState.SENDING, NOW)
    ledger.move(key, DeliveryState.SENT, NOW)
    if reported:
        ledger.mark_reported(key)


def first_run(path: Path, identity: str | None = FIRST) -> None:
    """A run against the first broker: one client confirmed, one phone that answered STOP."""
    ledger = (
        SqliteLedger(path, phone_digests=DIGESTS)
        if identity is None
        else open_for_cluster(path, identity, phone_digests=DIGESTS)
    )
    sent(ledger, "c-1")
    ledger.set_sms_allowed(PHONE, False, NOW)
    ledger.close()


def test_a_new_ledger_records_its_broker_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    first_run(path)
    ledger = open_for_cluster(path, FIRST, phone_digests=DIGESTS)
    assert ledger.recorded_cluster() == FIRST
    assert not queue(ledger, "c-1"), "the same broker's version 1 was already confirmed"
    assert [p.name for p in tmp_path.iterdir() if ".cluster-" in p.name] == []


def test_another_broker_sets_the_ledger_aside_and_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    first_run(path)
    with caplog.at_level(logging.INFO, logger="iop_notifier.ledger"):
        ledger = open_for_cluster(path, SECOND, phone_digests=DIGESTS)
    assert ledger.recorded_cluster() == SECOND
    assert queue(ledger, "c-1"), "a fresh broker's version 1 is a new schedule to confirm"
    assert ledger.deliveries_of("c-1") == []
    assert ledger.sms_allowed(PHONE) is False, "a STOP follows the phone to the new ledger"

    [line] = caplog.records
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert FIRST in message and SECOND in message and "starting fresh" in message
    assert PHONE not in message and "c-1" not in message

    kept = SqliteLedger(set_aside_path(path, FIRST))
    assert kept.recorded_cluster() == FIRST
    assert [d.state for d in kept.deliveries_of("c-1")] == [DeliveryState.SENT]


def test_an_older_ledger_without_identity_adopts_the_broker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    first_run(path, identity=None)
    assert SqliteLedger(path).recorded_cluster() is None
    with caplog.at_level(logging.INFO, logger="iop_notifier.ledger"):
        ledger = open_for_cluster(path, FIRST, phone_digests=DIGESTS)
    assert ledger.recorded_cluster() == FIRST
    assert not queue(ledger, "c-1"), "adopting keeps what the ledger knew"
    [line] = caplog.records
    assert "adopts" in line.getMessage() and FIRST in line.getMessage()


def test_a_new_file_adopts_without_a_migration_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="iop_notifier.ledger"):
        ledger = open_for_cluster(tmp_path / "ledger.sqlite3", FIRST, phone_digests=DIGESTS)
    assert ledger.recorded_cluster() == FIRST
    assert caplog.records == []


def owe_waiting(ledger: SqliteLedger) -> None:
    queue(ledger, "c-2")
    [notice] = [n for n in ledger.unplanned() if n.client_id == "c-2"]
    ledger.plan(notice, {Channel.SMS: (DeliveryState.DEFERRED, "quiet_hours")}, NOW)


def owe_interrupted(ledger: SqliteLedger) -> None:
    owe_waiting(ledger)
    key = DeliveryKey("c-2", 1, Purpose.CONFIRM, Channel.SMS)
    ledger.move(key, DeliveryState.SENDING, NOW)


def owe_held(ledger: SqliteLedger) -> None:
    queue(ledger, "c-2")  # read, but its enrollment (the contact details) never was


@pytest.mark.parametrize("owe", [owe_waiting, owe_interrupted, owe_held])
def test_another_broker_is_refused_while_the_old_ledger_owes_work(
    tmp_path: Path, owe: Callable[[SqliteLedger], None]
) -> None:
    path = tmp_path / "ledger.sqlite3"
    first_run(path)
    ledger = open_for_cluster(path, FIRST, phone_digests=DIGESTS)
    owe(ledger)
    ledger.close()

    with pytest.raises(LedgerOfAnotherCluster) as refused:
        open_for_cluster(path, SECOND, phone_digests=DIGESTS)
    message = str(refused.value)
    assert FIRST in message and SECOND in message and "KAFKA_BOOTSTRAP_SERVERS" in message
    assert PHONE not in message and "c-2" not in message
    assert not set_aside_path(path, FIRST).exists()
    again = open_for_cluster(path, FIRST, phone_digests=DIGESTS)
    assert again.notice_of("c-2") is not None, "the refused ledger is left as it was"


def test_outcomes_not_yet_reported_do_not_block(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = open_for_cluster(path, FIRST, phone_digests=DIGESTS)
    sent(ledger, "c-3", reported=False)
    ledger.close()
    fresh = open_for_cluster(path, SECOND, phone_digests=DIGESTS)
    assert fresh.unreported() == []
    kept = SqliteLedger(set_aside_path(path, FIRST))
    assert [d.key.client_id for d in kept.unreported()] == ["c-3"], "kept for that broker"


def test_back_to_the_first_broker_reopens_its_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    first_run(path)
    second = open_for_cluster(path, SECOND, phone_digests=DIGESTS)
    sent(second, "c-9")
    second.set_sms_allowed(PHONE, True, datetime(2026, 12, 2, tzinfo=UTC))
    second.close()

    back = open_for_cluster(path, FIRST, phone_digests=DIGESTS)
    assert back.recorded_cluster() == FIRST
    assert not queue(back, "c-1"), "what the first broker's ledger sent is not sent again"
    assert back.notice_of("c-9") is None
    assert back.sms_allowed(PHONE) is True, "the newer START wins over the older STOP"
    assert set_aside_path(path, SECOND).exists()
    assert not set_aside_path(path, FIRST).exists()


def test_a_ledger_set_aside_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    taken = set_aside_path(path, FIRST)
    taken.write_bytes(b"an older copy")
    first_run(path)
    open_for_cluster(path, SECOND, phone_digests=DIGESTS).close()
    assert taken.read_bytes() == b"an older copy"
    kept = SqliteLedger(taken.with_name(taken.name + ".1"))
    assert kept.recorded_cluster() == FIRST
