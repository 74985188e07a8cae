"""The ledger's side of make-ups: one make-up per client, date and group however often its
event comes (redelivered, replayed under a new id, after a restart); planned once; withdrawn by
a later client.unscheduled; counted as held work; and a ledger from before make-ups upgraded in
place, its deliveries intact."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from iop_contracts.values import Channel
from iop_notifier.adapters.ledger_sqlite import Delivery, Makeup, SqliteLedger
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose
from iop_notifier.outcomes import outcome_event

NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
PENDING = (DeliveryState.PENDING, None)
BOTH = {Channel.EMAIL: PENDING, Channel.SMS: (DeliveryState.SUPPRESSED, "no_consent")}


def record(ledger: SqliteLedger, event_id: str, occasion: str, client: str = "c-1") -> bool:
    return ledger.record_makeup(
        event_id=event_id,
        client_id=client,
        occasion=occasion,
        makeup_json='{"stored": "as given"}',
        correlation_id="corr",
    )


def makeup_key(occasion: str, version: int = 1, channel: Channel = Channel.EMAIL) -> DeliveryKey:
    return DeliveryKey("c-1", version, Purpose.MAKEUP, channel, occasion)


def test_one_makeup_per_occasion_whatever_the_event_id(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    assert record(ledger, "ev-1", "2026-12-10:g-a")
    assert not record(ledger, "ev-1", "2026-12-10:g-a")  # redelivered
    assert not record(ledger, "ev-2", "2026-12-10:g-a")  # replayed, or answered twice
    assert record(ledger, "ev-3", "2026-12-11:g-a")  # another date
    assert record(ledger, "ev-4", "2026-12-10:g-b")  # another group the same date
    ledger.close()
    reopened = SqliteLedger(tmp_path / "ledger.sqlite3")  # as after a restart
    assert not record(reopened, "ev-1", "2026-12-10:g-a")
    assert not record(reopened, "ev-5", "2026-12-10:g-a")
    assert [m.occasion for m in reopened.unplanned_makeups()] == [
        "2026-12-10:g-a",
        "2026-12-11:g-a",
        "2026-12-10:g-b",
    ]


def test_a_makeup_is_planned_once_and_held_until_then(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    record(ledger, "ev-1", "2026-12-10:g-a")
    assert ledger.owed().held == 1 and ledger.owed().outstanding
    [makeup] = ledger.unplanned_makeups()
    ledger.plan_makeup(makeup, 3, BOTH, NOW)
    ledger.plan_makeup(makeup, 4, BOTH, NOW)  # a second planning (a race, a stale list): no-op
    assert ledger.unplanned_makeups() == [] and ledger.owed().held == 0
    deliveries = ledger.deliveries_of("c-1")
    assert {(d.key, d.state) for d in deliveries} == {
        (makeup_key("2026-12-10:g-a", 3), DeliveryState.PENDING),
        (makeup_key("2026-12-10:g-a", 3, Channel.SMS), DeliveryState.SUPPRESSED),
    }
    assert {d.cause_event_id for d in deliveries} == {"ev-1"}


def test_two_makeups_under_one_schedule_version_are_two_deliveries(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    record(ledger, "ev-1", "2026-12-10:g-a")
    record(ledger, "ev-2", "2026-12-17:g-a")
    for makeup in ledger.unplanned_makeups():
        ledger.plan_makeup(makeup, 1, BOTH, NOW)
    first = ledger.get(makeup_key("2026-12-10:g-a"))
    second = ledger.get(makeup_key("2026-12-17:g-a"))
    assert first is not None and second is not None
    ledger.move(first.key, DeliveryState.SENDING, NOW)
    ledger.move(first.key, DeliveryState.SENT, NOW)
    sent = ledger.get(first.key)
    assert sent is not None and sent.state is DeliveryState.SENT
    assert ledger.get(second.key) == second  # the other one untouched
    # Their reports are two events: a consumer that dedupes by id keeps both.
    reported = [outcome_event(d) for d in (sent, _as(second, DeliveryState.SENT))]
    assert reported[0].id != reported[1].id
    assert reported[0].id == outcome_event(sent).id  # and each is stable
    assert {e.data["purpose"] for e in reported} == {"makeup"}


def _as(delivery: Delivery, state: DeliveryState) -> Delivery:
    return Delivery(
        delivery.key,
        state,
        delivery.attempts,
        delivery.next_attempt_at,
        delivery.reason,
        delivery.cause_event_id,
        delivery.correlation_id,
    )


def test_an_unschedule_withdraws_the_makeups_read_before_it(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    record(ledger, "ev-1", "2026-12-10:g-a")
    # No schedule is queued for the client: the withdrawal still reaches its make-ups.
    assert ledger.record_cancel(event_id="ev-cancel", client_id="c-1", correlation_id=None)
    assert not ledger.record_cancel(event_id="ev-cancel", client_id="c-1", correlation_id=None)
    record(ledger, "ev-2", "2026-12-17:g-a")  # a make-up of a later enrollment
    withdrawn = {m.occasion: m.withdrawn for m in ledger.unplanned_makeups()}
    assert withdrawn == {"2026-12-10:g-a": True, "2026-12-17:g-a": False}


def test_a_new_schedule_does_not_supersede_a_waiting_makeup(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    record(ledger, "ev-1", "2026-12-10:g-a")
    [makeup] = ledger.unplanned_makeups()
    ledger.plan_makeup(makeup, 1, BOTH, NOW)
    assert ledger.record_schedule(
        event_id="ev-s2",
        client_id="c-1",
        schedule_version=2,
        schedule_json="{}",
        correlation_id=None,
    )
    [notice] = ledger.unplanned()
    ledger.plan(notice, {Channel.EMAIL: PENDING}, NOW)
    waiting = ledger.get(makeup_key("2026-12-10:g-a"))
    assert waiting is not None and waiting.state is DeliveryState.PENDING


def test_a_ledger_from_before_makeups_is_upgraded_with_its_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE deliveries (
            client_id TEXT NOT NULL, schedule_version INTEGER NOT NULL, purpose TEXT NOT NULL,
            channel TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL, reason TEXT, sent_at TEXT,
            reported INTEGER NOT NULL DEFAULT 0, cause_event_id TEXT NOT NULL,
            correlation_id TEXT, updated_at TEXT NOT NULL,
            PRIMARY KEY (client_id, schedule_version, purpose, channel)
        );
        CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
        INSERT INTO deliveries VALUES ('c-1', 1, 'confirm', 'email', 'pending', 2,
            '2026-12-01T17:00:00+00:00', 'smtp_timeout', NULL, 0, 'ev-s1', 'corr',
            '2026-12-01T16:00:00+00:00');
        """
    )
    old.commit()
    old.close()

    ledger = SqliteLedger(path)
    confirm = DeliveryKey("c-1", 1, Purpose.CONFIRM, Channel.EMAIL)
    [kept] = ledger.due(NOW)
    assert kept.key == confirm and kept.key.occasion == ""
    assert (kept.state, kept.attempts, kept.reason) == (DeliveryState.PENDING, 2, "smtp_timeout")
    assert not kept.updated
    indexes = {row[1] for row in ledger._db.execute("PRAGMA index_list(deliveries)")}
    assert "deliveries_due" in indexes
    # The upgraded key takes a make-up beside it, and moves still find the old row.
    record(ledger, "ev-1", "2026-12-10:g-a")
    [makeup] = ledger.unplanned_makeups()
    ledger.plan_makeup(makeup, 1, BOTH, NOW)
    ledger.move(confirm, DeliveryState.SENDING, NOW)
    moved = ledger.get(confirm)
    assert moved is not None and moved.state is DeliveryState.SENDING
    assert len(ledger.deliveries_of("c-1")) == 3
    ledger.close()
    assert len(SqliteLedger(path).deliveries_of("c-1")) == 3  # upgraded once, reopened as is


def test_makeup_rows_hold_no_contact_details(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    record(ledger, "ev-1", "2026-12-10:g-a")
    columns = {row[1] for row in ledger._db.execute("PRAGMA table_info(makeups)")}
    assert columns == {
        "client_id",
        "occasion",
        "makeup_json",
        "cause_event_id",
        "correlation_id",
        "planned",
        "withdrawn",
    }
    assert ledger.makeup_of("c-1", "2026-12-10:g-a") == Makeup(
        "c-1", "2026-12-10:g-a", '{"stored": "as given"}', "ev-1", "corr"
    )
