"""The delivery ledger and the queue of schedules to announce, in one SQLite file.

Why SQLite: the ledger must survive the process (a crash between send and record has to be
visible to the next run), it is written by one process at a time, and it needs no server.
Every write is its own transaction with synchronous=FULL, so "recorded" means on disk.

It stores ids, versions, states and schedule payloads (which carry no contact details); never
an address, a phone number or a name. A phone's STOP/START answer is stored under a keyed digest,
HMAC-SHA256(NOTIFIER_PHONE_DIGEST_KEY, phone) (see domain/phones.py), in `sms_opt` with its
`digest_scheme`:

- Ledgers written before the key stored an unkeyed SHA-256 (`digest_scheme = 'sha256'`), which
  anyone can reverse by trying every number. A digest cannot be turned into another one without
  the phone, so they are rekeyed at start, once the contact directory is rebuilt from Kafka
  (`rekey_phone_digests`): the phone of each contact card is hashed the old way, and a matching
  row is rewritten under the keyed digest (the newer answer winning if both exist). Rows that
  match no known phone cannot be rekeyed and are deleted; a log line says how many (never which).
  The notifier reads only keyed rows.
- The key's check value (`meta` key 'phone_digest_key') is recorded; opening the ledger with a
  different key while it holds keyed answers raises PhoneDigestKeyChanged: those answers (STOPs
  among them) would silently stop counting, and SMS would go to phones that said STOP.

A ledger is only right about the broker its events came from: a fresh embedded broker starts
versions and event ids over, and a ledger that remembered the last broker's versions would take
every new schedule for an old one. So it records the broker's identity
(`iop_contracts.cluster.cluster_identity`) and `open_for_cluster` compares it at start:

- same broker: carry on.
- no identity recorded (a ledger written before this was added): it adopts the current broker
  and logs so; it cannot know better, and starting fresh would resend everything it sent.
- another broker, and the old ledger owes nothing: it is set aside as `<file>.cluster-<digest>`
  (renamed with its WAL, never deleted), a fresh ledger starts, and one warning line says so.
  STOP/START answers are carried over: they belong to the phone, not to a broker. If a ledger
  set aside earlier belongs to the current broker (the notifier was briefly pointed elsewhere),
  it is put back instead of starting fresh, so nothing it sent is sent again.
- another broker, and the old ledger still owes work (deliveries pending or deferred, deliveries
  a crash left SENDING, schedules or make-ups held for contact details): it refuses to start.
  Starting fresh would silently drop confirmations a client is waiting for, and the likeliest
  cause is a wrong KAFKA_BOOTSTRAP_SERVERS; the message says how to go on either way. Outcomes
  not yet reported do not block: the set-aside file keeps them for when that broker comes back.

To carry a ledger over to a migrated cluster on purpose (mirrored topics, same events), delete
its recorded identity (`DELETE FROM meta WHERE key = 'cluster'`): it then adopts the new one.
"""

import hashlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from iop_contracts.payloads import ClientScheduled
from iop_contracts.values import Channel
from pydantic import ValidationError

from iop_notifier.domain.cancellations import keep_past_cancellations
from iop_notifier.domain.ledger import (
    FINAL_STATES,
    WAITING_STATES,
    DeliveryKey,
    DeliveryState,
    Owed,
    Purpose,
    ReminderDue,
    ReminderState,
    can_move,
)
from iop_notifier.domain.phones import KEYED_SCHEME, UNKEYED_SCHEME, PhoneDigests, unkeyed_digest
from iop_notifier.errors import LedgerError

log = logging.getLogger("iop_notifier.ledger")

DELIVERIES = """
CREATE TABLE IF NOT EXISTS {table} (
    client_id TEXT NOT NULL,
    schedule_version INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    reason TEXT,
    sent_at TEXT,
    reported INTEGER NOT NULL DEFAULT 0,
    cause_event_id TEXT NOT NULL,
    correlation_id TEXT,
    updated_at TEXT NOT NULL,
    updated INTEGER NOT NULL DEFAULT 0, -- its notice's `updated`: reported as purpose "update"
    occasion TEXT NOT NULL DEFAULT '',  -- a make-up's "<date>:<group_id>"; '' for the others
    PRIMARY KEY (client_id, schedule_version, purpose, channel, occasion)
);
"""
DELIVERIES_DUE = "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);"

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_events (
    event_id TEXT PRIMARY KEY
);
-- The newest thing to tell each client: a (re)schedule to confirm or a schedule to cancel.
CREATE TABLE IF NOT EXISTS notices (
    client_id TEXT PRIMARY KEY,
    schedule_version INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    updated INTEGER NOT NULL,          -- 1 when it replaces a schedule the client was told about
    schedule_json TEXT NOT NULL,       -- the schedule payload (no contact details in it)
    previous_json TEXT,                -- the schedule it replaces, if the client was told of it
    cause_event_id TEXT NOT NULL,
    correlation_id TEXT,
    planned INTEGER NOT NULL DEFAULT 0 -- 0 until deliveries were created (needs the contact)
);
{deliveries}
-- One make-up session (client.makeup_scheduled) to announce, once: its key is the make-up's.
CREATE TABLE IF NOT EXISTS makeups (
    client_id TEXT NOT NULL,
    occasion TEXT NOT NULL,            -- "<date>:<group_id>", the deliveries' occasion
    makeup_json TEXT NOT NULL,         -- the make-up payload (no contact details in it)
    cause_event_id TEXT NOT NULL,
    correlation_id TEXT,
    planned INTEGER NOT NULL DEFAULT 0, -- 0 until deliveries were created (needs the contact)
    withdrawn INTEGER NOT NULL DEFAULT 0, -- 1 once the client's schedule was withdrawn after it
    PRIMARY KEY (client_id, occasion)
);
-- The reminder the day before the first session: one per client and schedule start.
CREATE TABLE IF NOT EXISTS reminders (
    client_id TEXT NOT NULL,
    start_date TEXT NOT NULL,
    state TEXT NOT NULL,               -- see domain.ledger.ReminderState
    due_at TEXT,                       -- when it may go; NULL while no session takes place
    schedule_version INTEGER,          -- once planned: the version its deliveries carry
    session_date TEXT,                 -- once planned: the date of the session it is about
    updated_at TEXT NOT NULL,
    PRIMARY KEY (client_id, start_date)
);
CREATE INDEX IF NOT EXISTS reminders_due ON reminders (state, due_at);
CREATE TABLE IF NOT EXISTS sms_opt (
    phone_digest TEXT PRIMARY KEY,
    digest_scheme TEXT NOT NULL,       -- 'hmac-sha256' (keyed); 'sha256' only in older ledgers
    allowed INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);
-- key 'cluster': the identity of the broker this ledger's events came from;
-- key 'phone_digest_key': the check value of the key its phone digests were made with.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""".replace("{deliveries}", DELIVERIES.format(table="deliveries").strip() + "\n" + DELIVERIES_DUE)


@dataclass(frozen=True, slots=True)
class Notice:
    client_id: str
    schedule_version: int
    purpose: Purpose
    updated: bool
    schedule_json: str
    cause_event_id: str
    correlation_id: str | None
    previous_json: str | None = None


@dataclass(frozen=True, slots=True)
class SmsAnswer:
    """A phone's latest STOP/START keyword, by digest; `changed_at` is ISO 8601 in UTC."""

    phone_digest: str
    digest_scheme: str
    allowed: bool
    changed_at: str


@dataclass(frozen=True, slots=True)
class Rekeyed:
    """What rekeying the unkeyed phone digests did."""

    converted: int  # rewritten under the keyed digest
    dropped: int  # matched no phone the notifier knows: deleted


@dataclass(frozen=True, slots=True)
class Delivery:
    key: DeliveryKey
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    reason: str | None
    cause_event_id: str
    correlation_id: str | None
    updated: bool = False  # a schedule the client was told an earlier version of


@dataclass(frozen=True, slots=True)
class Makeup:
    """A make-up to announce; `occasion` is its "<date>:<group_id>" (see iop_notifier/makeups)."""

    client_id: str
    occasion: str
    makeup_json: str
    cause_event_id: str
    correlation_id: str | None
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Cause:
    """What a set of deliveries is about, as each of their rows records it."""

    client_id: str
    schedule_version: int
    cause_event_id: str
    correlation_id: str | None
    updated: bool = False
    occasion: str = ""


def _cause_of(notice: "Notice", purpose: Purpose) -> Cause:
    return Cause(
        notice.client_id,
        notice.schedule_version,
        notice.cause_event_id,
        notice.correlation_id,
        updated=notice.updated and purpose is Purpose.CONFIRM,
    )


@dataclass(frozen=True, slots=True)
class Reminder:
    client_id: str
    start_date: date
    state: ReminderState
    due_at: datetime | None
    schedule_version: int | None
    session_date: date | None


Decisions = dict[Channel, tuple[DeliveryState, str | None]]


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


# A delivery in one of these states may have reached the client.
TOLD_STATES = "('sent', 'possibly_sent', 'sending')"


def _previous(row: sqlite3.Row | None, told: bool, row_told: bool) -> str | None:
    """The schedule a reschedule replaces in the client's calendar: the queued one if the
    client was told of it, else whatever it replaced (a confirmation superseded before it went
    out leaves the one before it on the calendar). None after a cancellation."""
    if row is None or not told or row["purpose"] != "confirm":
        return None
    return str(row["schedule_json"]) if row_told else row["previous_json"]


def _with_past_cancellations(row: sqlite3.Row | None, schedule_json: str, day: date) -> str:
    """The new schedule with the past cancellations of the one it replaces (see
    domain/cancellations.py); unchanged when there is none, or it no longer reads."""
    if row is None or row["purpose"] != "confirm":
        return schedule_json
    try:
        previous = ClientScheduled.model_validate_json(row["schedule_json"])
    except ValidationError:
        return schedule_json  # a row an older notifier wrote, now outside the date window
    current = ClientScheduled.model_validate_json(schedule_json)
    kept = keep_past_cancellations(previous, current, day)
    return schedule_json if kept is current else kept.model_dump_json()


def _insert_deliveries(
    db: sqlite3.Connection,
    cause: Cause,
    purpose: Purpose,
    decisions: Decisions,
    now: datetime,
) -> None:
    for channel, (state, reason) in decisions.items():
        db.execute(
            "INSERT OR IGNORE INTO deliveries (client_id, schedule_version, purpose, channel, "
            "state, next_attempt_at, reason, cause_event_id, correlation_id, updated_at, "
            "updated, occasion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cause.client_id,
                cause.schedule_version,
                purpose.value,
                channel.value,
                state.value,
                _ts(now),
                reason,
                cause.cause_event_id,
                cause.correlation_id,
                _ts(now),
                int(cause.updated),
                cause.occasion,
            ),
        )


# One delivery row, by its whole key (see _key_args).
KEY_WHERE = (
    "client_id = ? AND schedule_version = ? AND purpose = ? AND channel = ? AND occasion = ?"
)


def _key_args(key: DeliveryKey) -> tuple[str, int, str, str, str]:
    return (key.client_id, key.schedule_version, key.purpose.value, key.channel.value, key.occasion)


class PhoneDigestKeyChanged(LedgerError):
    """The ledger's STOP/START answers were stored under another key: the notifier won't start."""


class SqliteLedger:
    """`phone_digests` None: STOP/START answers can be neither read nor written (SMS is off)."""

    def __init__(self, path: Path, *, phone_digests: PhoneDigests | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._upgrade_sms_opt()
        self._upgrade_deliveries()
        self.phone_digests = phone_digests
        if phone_digests is not None:
            try:
                self._check_digest_key(phone_digests)
            except BaseException:
                self._db.close()
                raise

    def _upgrade_sms_opt(self) -> None:
        """A ledger from before keyed digests: its answers are unkeyed SHA-256 (rekeyed later)."""
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(sms_opt)")}
        if "phone_sha256" not in columns:
            return
        with self._tx() as db:
            db.execute("ALTER TABLE sms_opt RENAME COLUMN phone_sha256 TO phone_digest")
            db.execute(
                "ALTER TABLE sms_opt ADD COLUMN digest_scheme TEXT NOT NULL "
                f"DEFAULT '{UNKEYED_SCHEME}'"
            )

    def _upgrade_deliveries(self) -> None:
        """A ledger from before purposes were reported: its deliveries report as confirmations.
        A ledger from before make-ups: its key gains `occasion` ('' for every row it holds)."""
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        if "updated" not in columns:
            self._db.execute("ALTER TABLE deliveries ADD COLUMN updated INTEGER NOT NULL DEFAULT 0")
        if "occasion" not in columns:
            self._add_occasion_to_key()

    def _add_occasion_to_key(self) -> None:
        """SQLite cannot change a primary key in place: the table is copied into one with the
        new key, in one transaction, so a crash leaves either the old table or the new one."""
        names = (
            "client_id, schedule_version, purpose, channel, state, attempts, next_attempt_at, "
            "reason, sent_at, reported, cause_event_id, correlation_id, updated_at, updated"
        )
        with self._tx() as db:
            db.execute(DELIVERIES.format(table="deliveries_keyed"))
            db.execute(f"INSERT INTO deliveries_keyed ({names}) SELECT {names} FROM deliveries")
            db.execute("DROP TABLE deliveries")
            db.execute("ALTER TABLE deliveries_keyed RENAME TO deliveries")
            db.execute(DELIVERIES_DUE)

    def _check_digest_key(self, digests: PhoneDigests) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'phone_digest_key'").fetchone()
        if row is not None and row["value"] != digests.key_check:
            keyed = self._db.execute(
                "SELECT COUNT(*) FROM sms_opt WHERE digest_scheme = ?", (KEYED_SCHEME,)
            ).fetchone()[0]
            if keyed:
                raise PhoneDigestKeyChanged(
                    f"ledger {self.path} holds {keyed} STOP/START answers made with another "
                    "NOTIFIER_PHONE_DIGEST_KEY; they cannot be read with this one, and phones "
                    "that sent STOP would get SMS again. Set the previous key back."
                )
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('phone_digest_key', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (digests.key_check,),
        )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ incoming schedules

    def record_schedule(
        self,
        *,
        event_id: str,
        client_id: str,
        schedule_version: int,
        schedule_json: str,
        correlation_id: str | None,
        published_on: date | None = None,
    ) -> bool:
        """Queue a (re)schedule to confirm. False when the event id was seen, or the version is
        not newer than one already queued: the newest version wins, older ones never go out.

        `published_on`, the event's date in the schedule's zone: the past cancellations of
        the schedule it replaces are kept (see domain/cancellations.py)."""
        with self._tx() as db:
            if not self._first_sighting(db, event_id):
                return False
            row = db.execute(
                "SELECT schedule_version, purpose, schedule_json, previous_json "
                "FROM notices WHERE client_id = ?",
                (client_id,),
            ).fetchone()
            if row is not None and row["schedule_version"] >= schedule_version:
                return False
            told = self._told(db, client_id)
            row_told = row is not None and self._told(db, client_id, row["schedule_version"])
            if published_on is not None:
                schedule_json = _with_past_cancellations(row, schedule_json, published_on)
            db.execute(
                "INSERT INTO notices (client_id, schedule_version, purpose, updated, "
                "schedule_json, previous_json, cause_event_id, correlation_id, planned) "
                "VALUES (?, ?, 'confirm', ?, ?, ?, ?, ?, 0) ON CONFLICT (client_id) DO UPDATE SET "
                "schedule_version = excluded.schedule_version, purpose = 'confirm', "
                "updated = excluded.updated, schedule_json = excluded.schedule_json, "
                "previous_json = excluded.previous_json, "
                "cause_event_id = excluded.cause_event_id, "
                "correlation_id = excluded.correlation_id, planned = 0",
                (
                    client_id,
                    schedule_version,
                    int(told),
                    schedule_json,
                    _previous(row, told, row_told),
                    event_id,
                    correlation_id,
                ),
            )
            return True

    @staticmethod
    def _told(db: sqlite3.Connection, client_id: str, version: int | None = None) -> bool:
        """Whether a schedule (that version, or any) may have reached the client."""
        sql = (
            "SELECT 1 FROM deliveries WHERE client_id = ? AND purpose = 'confirm' "
            f"AND state IN {TOLD_STATES}"
        )
        args: tuple[object, ...] = (client_id,)
        if version is not None:
            sql, args = sql + " AND schedule_version = ?", (client_id, version)
        return db.execute(sql + " LIMIT 1", args).fetchone() is not None

    def record_cancel(self, *, event_id: str, client_id: str, correlation_id: str | None) -> bool:
        """Queue the cancellation of the client's current schedule (if we know one). The
        client's make-ups read before it are withdrawn: one not announced yet never goes."""
        with self._tx() as db:
            if not self._first_sighting(db, event_id):
                return False
            cursor = db.execute(
                "UPDATE notices SET purpose = 'cancel', cause_event_id = ?, correlation_id = ?, "
                "planned = 0 WHERE client_id = ? AND purpose = 'confirm'",
                (event_id, correlation_id, client_id),
            )
            withdrawn = db.execute(
                "UPDATE makeups SET withdrawn = 1 WHERE client_id = ? AND withdrawn = 0",
                (client_id,),
            )
            return cursor.rowcount > 0 or withdrawn.rowcount > 0

    # ------------------------------------------------------------------ make-ups

    def record_makeup(
        self,
        *,
        event_id: str,
        client_id: str,
        occasion: str,
        makeup_json: str,
        correlation_id: str | None,
    ) -> bool:
        """Queue a make-up to announce. False when the event id was seen, or a make-up with the
        same occasion (date and group) was queued before: a replay under a new event id, or
        the scheduler answering the same request twice, announces nothing more."""
        with self._tx() as db:
            if not self._first_sighting(db, event_id):
                return False
            cursor = db.execute(
                "INSERT OR IGNORE INTO makeups (client_id, occasion, makeup_json, "
                "cause_event_id, correlation_id) VALUES (?, ?, ?, ?, ?)",
                (client_id, occasion, makeup_json, event_id, correlation_id),
            )
            return cursor.rowcount == 1

    def unplanned_makeups(self) -> list[Makeup]:
        rows = self._db.execute("SELECT * FROM makeups WHERE planned = 0").fetchall()
        return [_makeup(r) for r in rows]

    def makeup_of(self, client_id: str, occasion: str) -> Makeup | None:
        row = self._db.execute(
            "SELECT * FROM makeups WHERE client_id = ? AND occasion = ?", (client_id, occasion)
        ).fetchone()
        return None if row is None else _makeup(row)

    def plan_makeup(
        self, makeup: Makeup, schedule_version: int, decisions: Decisions, now: datetime
    ) -> None:
        """Create the make-up's deliveries, reported with `schedule_version` (the client's
        current one), and mark it planned: it is never planned twice."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE makeups SET planned = 1 WHERE client_id = ? AND occasion = ? "
                "AND planned = 0",
                (makeup.client_id, makeup.occasion),
            )
            if cursor.rowcount == 1:
                cause = Cause(
                    makeup.client_id,
                    schedule_version,
                    makeup.cause_event_id,
                    makeup.correlation_id,
                    occasion=makeup.occasion,
                )
                _insert_deliveries(db, cause, Purpose.MAKEUP, decisions, now)

    def mark_seen(self, event_id: str) -> bool:
        with self._tx() as db:
            return self._first_sighting(db, event_id)

    def has_seen(self, event_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,))
        return row.fetchone() is not None

    @staticmethod
    def _first_sighting(db: sqlite3.Connection, event_id: str) -> bool:
        cursor = db.execute("INSERT OR IGNORE INTO seen_events (event_id) VALUES (?)", (event_id,))
        return cursor.rowcount == 1

    def unplanned(self) -> list[Notice]:
        rows = self._db.execute("SELECT * FROM notices WHERE planned = 0").fetchall()
        return [_notice(r) for r in rows]

    def notice_of(self, client_id: str) -> Notice | None:
        r = self._db.execute("SELECT * FROM notices WHERE client_id = ?", (client_id,)).fetchone()
        return None if r is None else _notice(r)

    def plan(
        self,
        notice: Notice,
        decisions: Decisions,
        now: datetime,
        reminder: ReminderDue | None = None,
    ) -> None:
        """Create this notice's deliveries and supersede whatever older ones still wait (but a
        reminder or a make-up: whether it still holds is judged when it goes). `reminder`: when the
        reminder of this schedule's start is due (see `_note_reminder`)."""
        with self._tx() as db:
            current = db.execute(
                "SELECT schedule_version, purpose, cause_event_id FROM notices WHERE client_id = ?",
                (notice.client_id,),
            ).fetchone()
            if current is None or current["cause_event_id"] != notice.cause_event_id:
                return  # a newer notice replaced it meanwhile; it will be planned on its own
            db.execute(
                "UPDATE deliveries SET state = 'superseded', reason = 'superseded', reported = 0, "
                "updated_at = ? WHERE client_id = ? AND state IN ('pending', 'deferred') "
                "AND purpose NOT IN ('reminder', 'makeup') "
                "AND NOT (schedule_version = ? AND purpose = ?)",
                (_ts(now), notice.client_id, notice.schedule_version, notice.purpose.value),
            )
            _insert_deliveries(
                db, _cause_of(notice, notice.purpose), notice.purpose, decisions, now
            )
            if reminder is not None:
                self._note_reminder(db, notice.client_id, reminder, now)
            db.execute(
                "UPDATE notices SET planned = 1 WHERE client_id = ? AND cause_event_id = ?",
                (notice.client_id, notice.cause_event_id),
            )

    # ------------------------------------------------------------------ reminders

    @staticmethod
    def _note_reminder(
        db: sqlite3.Connection, client_id: str, due: ReminderDue, now: datetime
    ) -> None:
        """A schedule start seen for the first time gets its reminder row, skipped when the
        client is told of it already inside the reminder's window (the confirmation names the
        first visit); a start seen before gets its due time moved, if it still waits."""
        due_at = _ts(due.due_at) if due.due_at else None
        skipped = due.due_at is not None and now >= due.due_at
        state = ReminderState.SKIPPED if skipped else ReminderState.WAITING
        db.execute(
            "INSERT INTO reminders (client_id, start_date, state, due_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, start_date) DO UPDATE SET "
            "due_at = excluded.due_at, updated_at = excluded.updated_at "
            "WHERE reminders.state = 'waiting'",
            (client_id, due.start_date.isoformat(), state.value, due_at, _ts(now)),
        )

    def due_reminders(self, now: datetime, limit: int = 100) -> list[Reminder]:
        rows = self._db.execute(
            "SELECT * FROM reminders WHERE state = 'waiting' AND due_at <= ? "
            "ORDER BY due_at LIMIT ?",
            (_ts(now), limit),
        ).fetchall()
        return [_reminder(r) for r in rows]

    def reminder_of(self, client_id: str, schedule_version: int) -> Reminder | None:
        """The planned reminder whose deliveries carry `schedule_version`."""
        row = self._db.execute(
            "SELECT * FROM reminders WHERE client_id = ? AND schedule_version = ? "
            "AND state = 'planned'",
            (client_id, schedule_version),
        ).fetchone()
        return None if row is None else _reminder(row)

    def move_reminder(self, reminder: Reminder, now: datetime, *, due_at: datetime | None) -> None:
        """A waiting reminder whose first session moved: it is due at another time."""
        self._db.execute(
            "UPDATE reminders SET due_at = ?, updated_at = ? WHERE client_id = ? "
            "AND start_date = ? AND state = 'waiting'",
            (
                _ts(due_at) if due_at else None,
                _ts(now),
                reminder.client_id,
                reminder.start_date.isoformat(),
            ),
        )

    def close_reminder(self, reminder: Reminder, state: ReminderState, now: datetime) -> None:
        self._db.execute(
            "UPDATE reminders SET state = ?, updated_at = ? WHERE client_id = ? "
            "AND start_date = ? AND state = 'waiting'",
            (state.value, _ts(now), reminder.client_id, reminder.start_date.isoformat()),
        )

    def plan_reminder(
        self,
        reminder: Reminder,
        notice: Notice,
        session_date: date,
        decisions: Decisions,
        now: datetime,
    ) -> None:
        """Create the reminder's deliveries, with the version of the notice it was planned
        from, and mark it planned: it is never planned twice."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE reminders SET state = 'planned', schedule_version = ?, session_date = ?, "
                "updated_at = ? WHERE client_id = ? AND start_date = ? AND state = 'waiting'",
                (
                    notice.schedule_version,
                    session_date.isoformat(),
                    _ts(now),
                    reminder.client_id,
                    reminder.start_date.isoformat(),
                ),
            )
            if cursor.rowcount == 1:
                _insert_deliveries(
                    db, _cause_of(notice, Purpose.REMINDER), Purpose.REMINDER, decisions, now
                )

    # ------------------------------------------------------------------ deliveries

    def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE state IN ('pending', 'deferred') "
            "AND next_attempt_at <= ? ORDER BY next_attempt_at, client_id LIMIT ?",
            (_ts(now), limit),
        ).fetchall()
        return [self._delivery(r) for r in rows]

    def get(self, key: DeliveryKey) -> Delivery | None:
        r = self._db.execute(
            f"SELECT * FROM deliveries WHERE {KEY_WHERE}", _key_args(key)
        ).fetchone()
        return None if r is None else self._delivery(r)

    def deliveries_of(self, client_id: str) -> list[Delivery]:
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE client_id = ? ORDER BY schedule_version, purpose",
            (client_id,),
        ).fetchall()
        return [self._delivery(r) for r in rows]

    def move(
        self,
        key: DeliveryKey,
        target: DeliveryState,
        now: datetime,
        *,
        reason: str | None = None,
        next_attempt_at: datetime | None = None,
        count_attempt: bool = False,
    ) -> None:
        """One state change, checked against the domain's transition rules, durable on return."""
        with self._tx() as db:
            row = db.execute(
                f"SELECT state FROM deliveries WHERE {KEY_WHERE}", _key_args(key)
            ).fetchone()
            if row is None:
                raise LedgerError(f"no delivery for client {key.client_id}")
            current = DeliveryState(row["state"])
            if not can_move(current, target):
                raise LedgerError(f"delivery may not move from {current} to {target}")
            db.execute(
                "UPDATE deliveries SET state = ?, reason = COALESCE(?, reason), "
                "next_attempt_at = COALESCE(?, next_attempt_at), attempts = attempts + ?, "
                "sent_at = CASE WHEN ? IN ('sent', 'possibly_sent') THEN ? ELSE sent_at END, "
                "reported = CASE WHEN ? THEN 0 ELSE reported END, updated_at = ? "
                f"WHERE {KEY_WHERE}",
                (
                    target.value,
                    reason,
                    _ts(next_attempt_at) if next_attempt_at else None,
                    int(count_attempt),
                    target.value,
                    _ts(now),
                    target in FINAL_STATES,
                    _ts(now),
                    *_key_args(key),
                ),
            )

    def recover_interrupted(self, now: datetime) -> int:
        """At start: a delivery left SENDING was handed to the transport by a run that died before
        recording the outcome. It may have arrived, so it is never sent again: POSSIBLY_SENT."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'possibly_sent', reason = 'possibly_sent', "
                "sent_at = ?, reported = 0, updated_at = ? WHERE state = 'sending'",
                (_ts(now), _ts(now)),
            )
            return cursor.rowcount

    def unreported(self, limit: int = 200) -> list[Delivery]:
        placeholders = ",".join("?" for _ in FINAL_STATES)
        rows = self._db.execute(
            f"SELECT * FROM deliveries WHERE reported = 0 AND state IN ({placeholders}) "
            "ORDER BY updated_at LIMIT ?",
            (*[s.value for s in FINAL_STATES], limit),
        ).fetchall()
        return [self._delivery(r) for r in rows]

    def mark_reported(self, key: DeliveryKey) -> None:
        self._db.execute(f"UPDATE deliveries SET reported = 1 WHERE {KEY_WHERE}", _key_args(key))

    def sms_sent_times(self, client_id: str) -> list[datetime]:
        rows = self._db.execute(
            "SELECT sent_at FROM deliveries WHERE client_id = ? AND channel = 'sms' "
            "AND state IN ('sent', 'possibly_sent') AND sent_at IS NOT NULL",
            (client_id,),
        ).fetchall()
        return [_dt(r["sent_at"]) for r in rows]

    def waiting_count(self) -> int:
        placeholders = ",".join("?" for _ in WAITING_STATES)
        row = self._db.execute(
            f"SELECT COUNT(*) FROM deliveries WHERE state IN ({placeholders})",
            tuple(s.value for s in WAITING_STATES),
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ SMS consent keywords

    def _digests(self) -> PhoneDigests:
        if self.phone_digests is None:
            raise LedgerError("no NOTIFIER_PHONE_DIGEST_KEY: STOP/START answers cannot be kept")
        return self.phone_digests

    def set_sms_allowed(self, phone: str, allowed: bool, now: datetime) -> None:
        digests = self._digests()
        answer = SmsAnswer(digests.of(phone), digests.scheme, allowed, _ts(now))
        with self._tx() as db:
            _put_answers(db, [answer], newer_only=False)

    def sms_allowed(self, phone: str) -> bool | None:
        """The phone's latest STOP/START answer, or None when it never sent one (or no key)."""
        if self.phone_digests is None:
            return None
        row = self._db.execute(
            "SELECT allowed FROM sms_opt WHERE phone_digest = ? AND digest_scheme = ?",
            (self.phone_digests.of(phone), KEYED_SCHEME),
        ).fetchone()
        return None if row is None else bool(row["allowed"])

    def sms_answers(self) -> list[SmsAnswer]:
        rows = self._db.execute(
            "SELECT phone_digest, digest_scheme, allowed, changed_at FROM sms_opt"
        )
        return [
            SmsAnswer(r["phone_digest"], r["digest_scheme"], bool(r["allowed"]), r["changed_at"])
            for r in rows
        ]

    def keep_sms_answers(self, answers: list[SmsAnswer]) -> None:
        """Take over STOP/START answers from another ledger, the newer one winning per phone."""
        with self._tx() as db:
            _put_answers(db, answers, newer_only=True)

    def rekey_phone_digests(self, known_phones: Iterable[str]) -> Rekeyed:
        """Rewrite unkeyed answers under the keyed digest, for the phones known; delete the
        rest (see the module docstring). Needs every enrollment read first: a phone not yet
        known would lose its STOP."""
        digests = self._digests()
        unkeyed = [a for a in self.sms_answers() if a.digest_scheme == UNKEYED_SCHEME]
        if not unkeyed:
            return Rekeyed(0, 0)
        keyed_of = {unkeyed_digest(phone): digests.of(phone) for phone in known_phones}
        rekeyed = [
            SmsAnswer(keyed_of[a.phone_digest], digests.scheme, a.allowed, a.changed_at)
            for a in unkeyed
            if a.phone_digest in keyed_of
        ]
        with self._tx() as db:
            db.execute("DELETE FROM sms_opt WHERE digest_scheme = ?", (UNKEYED_SCHEME,))
            _put_answers(db, rekeyed, newer_only=True)
        result = Rekeyed(converted=len(rekeyed), dropped=len(unkeyed) - len(rekeyed))
        log.info("unkeyed phone digests rekeyed", extra={"converted": result.converted})
        if result.dropped:
            log.warning(
                "deleted %d STOP/START answers stored under an unkeyed phone digest: no "
                "contact card has their phone, so they cannot be rekeyed",
                result.dropped,
            )
        return result

    # ------------------------------------------------------------------ the broker it belongs to

    def recorded_cluster(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'cluster'").fetchone()
        return None if row is None else str(row["value"])

    def record_cluster(self, identity: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('cluster', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (identity,),
        )

    def owed(self) -> Owed:
        def count(sql: str) -> int:
            return int(self._db.execute(sql).fetchone()[0])

        return Owed(
            waiting=count("SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'deferred')"),
            interrupted=count("SELECT COUNT(*) FROM deliveries WHERE state = 'sending'"),
            held=count("SELECT COUNT(*) FROM notices WHERE planned = 0")
            + count("SELECT COUNT(*) FROM makeups WHERE planned = 0"),
        )

    @staticmethod
    def _delivery(r: sqlite3.Row) -> Delivery:
        return Delivery(
            key=DeliveryKey(
                client_id=r["client_id"],
                schedule_version=r["schedule_version"],
                purpose=Purpose(r["purpose"]),
                channel=Channel(r["channel"]),
                occasion=r["occasion"],
            ),
            state=DeliveryState(r["state"]),
            attempts=r["attempts"],
            next_attempt_at=_dt(r["next_attempt_at"]),
            reason=r["reason"],
            cause_event_id=r["cause_event_id"],
            correlation_id=r["correlation_id"],
            updated=bool(r["updated"]),
        )


def _reminder(row: sqlite3.Row) -> Reminder:
    def day(value: str | None) -> date | None:
        return None if value is None else date.fromisoformat(value)

    return Reminder(
        client_id=row["client_id"],
        start_date=date.fromisoformat(row["start_date"]),
        state=ReminderState(row["state"]),
        due_at=None if row["due_at"] is None else _dt(row["due_at"]),
        schedule_version=row["schedule_version"],
        session_date=day(row["session_date"]),
    )


def _put_answers(db: sqlite3.Connection, answers: list[SmsAnswer], *, newer_only: bool) -> None:
    newer = " WHERE excluded.changed_at > sms_opt.changed_at" if newer_only else ""
    db.executemany(
        "INSERT INTO sms_opt (phone_digest, digest_scheme, allowed, changed_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (phone_digest) DO UPDATE SET "
        "digest_scheme = excluded.digest_scheme, allowed = excluded.allowed, "
        "changed_at = excluded.changed_at" + newer,
        [(a.phone_digest, a.digest_scheme, int(a.allowed), a.changed_at) for a in answers],
    )


def _makeup(row: sqlite3.Row) -> Makeup:
    return Makeup(
        client_id=row["client_id"],
        occasion=row["occasion"],
        makeup_json=row["makeup_json"],
        cause_event_id=row["cause_event_id"],
        correlation_id=row["correlation_id"],
        withdrawn=bool(row["withdrawn"]),
    )


def _notice(row: sqlite3.Row) -> Notice:
    return Notice(
        client_id=row["client_id"],
        schedule_version=row["schedule_version"],
        purpose=Purpose(row["purpose"]),
        updated=bool(row["updated"]),
        schedule_json=row["schedule_json"],
        cause_event_id=row["cause_event_id"],
        correlation_id=row["correlation_id"],
        previous_json=row["previous_json"],
    )


class LedgerOfAnotherCluster(LedgerError):
    """The ledger belongs to another broker and still owes work: the notifier will not start."""


def set_aside_path(path: Path, identity: str) -> Path:
    """Where a ledger of broker `identity` is kept once another broker's ledger takes its place."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return path.with_name(f"{path.name}.cluster-{digest}")


def _move_database(source: Path, target: Path) -> None:
    """Rename an SQLite file with its WAL and shared-memory files (the WAL may hold commits)."""
    for suffix in ("", "-wal", "-shm"):
        part = source.with_name(source.name + suffix)
        if part.exists():
            part.rename(target.with_name(target.name + suffix))


def open_for_cluster(
    path: Path, identity: str, *, phone_digests: PhoneDigests | None = None
) -> SqliteLedger:
    """The ledger at `path`, made to belong to the broker `identity` (see the module docstring).

    Raises LedgerOfAnotherCluster when the file belongs to another broker and still owes work,
    PhoneDigestKeyChanged when its STOP/START answers were made with another key.
    """
    existed = path.exists()
    ledger = SqliteLedger(path, phone_digests=phone_digests)
    recorded = ledger.recorded_cluster()
    if recorded == identity:
        return ledger
    if recorded is None:
        ledger.record_cluster(identity)
        if existed:
            log.info("ledger %s had no broker identity; it adopts %s", path, identity)
        return ledger
    owed = ledger.owed()
    if owed.outstanding:
        ledger.close()
        raise LedgerOfAnotherCluster(
            f"ledger {path} belongs to broker {recorded}, not {identity}, and still owes "
            f"{owed.waiting} waiting and {owed.interrupted} interrupted deliveries and "
            f"{owed.held} schedules or make-ups held for contact details. If "
            "KAFKA_BOOTSTRAP_SERVERS is wrong, point it back at that broker; to abandon that "
            f"work, move {path.name} aside (or set NOTIFIER_LEDGER_PATH to another file) and "
            "start again."
        )
    return _switch(ledger, path, recorded, identity)


def _switch(old: SqliteLedger, path: Path, recorded: str, identity: str) -> SqliteLedger:
    """Set the old broker's ledger aside and open the current broker's: the one set aside earlier
    if there is one, else a fresh one. STOP/START answers follow the phone into it."""
    answers = old.sms_answers()
    old.close()  # closing checkpoints the WAL, so the renamed file is whole
    aside = _unused(set_aside_path(path, recorded))
    _move_database(path, aside)
    earlier = set_aside_path(path, identity)
    restored = earlier.exists()
    if restored:
        _move_database(earlier, path)
    ledger = SqliteLedger(path, phone_digests=old.phone_digests)
    ledger.record_cluster(identity)
    ledger.keep_sms_answers(answers)
    log.warning(
        "ledger %s belonged to broker %s, not %s: set aside as %s, %s",
        path,
        recorded,
        identity,
        aside.name,
        "reopened the one kept for this broker" if restored else "starting fresh",
    )
    return ledger


def _unused(path: Path) -> Path:
    """`path`, or `path.N` for the first N not taken: a ledger set aside is never overwritten."""
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.{n}"), n + 1
    return candidate
