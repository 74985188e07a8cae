"""The delivery ledger's states and the transitions between them.

One ledger row is one (client, schedule_version, purpose, channel, occasion). It is written
before a send (SENDING) and after it (SENT, FAILED, ...), so a crash in between leaves SENDING
behind; the next run turns that into POSSIBLY_SENT and reports it instead of sending again.
"""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from iop_contracts.values import Channel, NotificationPurpose


class Purpose(StrEnum):
    CONFIRM = "confirm"  # client.scheduled and client.rescheduled: a (new) schedule
    CANCEL = "cancel"  # client.unscheduled: withdraw the calendar entries
    REMINDER = "reminder"  # the day before the first session
    MAKEUP = "makeup"  # client.makeup_scheduled: one extra dated session (see makeups.py)


def purpose_told(purpose: Purpose, updated: bool) -> NotificationPurpose:
    """The contract's name for a message: a schedule is a confirmation the first time the
    client hears of it and an update after that (new times, a later end_date, cancelled or
    reinstated occurrences)."""
    if purpose is Purpose.CONFIRM:
        return NotificationPurpose.UPDATE if updated else NotificationPurpose.CONFIRMATION
    if purpose is Purpose.CANCEL:
        return NotificationPurpose.CANCELLATION
    if purpose is Purpose.MAKEUP:
        return NotificationPurpose.MAKEUP
    return NotificationPurpose.REMINDER


class DeliveryState(StrEnum):
    PENDING = "pending"  # to be sent when next_attempt_at is due (first try or a retry)
    DEFERRED = "deferred"  # SMS waiting for quiet hours to end or a rate limit to allow it
    SENDING = "sending"  # handed to the transport; outcome not recorded yet
    SENT = "sent"
    POSSIBLY_SENT = "possibly_sent"  # a crash or broken exchange hid the outcome: never resent
    FAILED = "failed"  # permanent failure, or retries exhausted
    SUPPRESSED = "suppressed"  # no consent, opted out, nothing to cancel, or too late
    SUPERSEDED = "superseded"  # a newer schedule_version (or a withdrawal) came before it went


FINAL_STATES = frozenset(
    {
        DeliveryState.SENT,
        DeliveryState.POSSIBLY_SENT,
        DeliveryState.FAILED,
        DeliveryState.SUPPRESSED,
        DeliveryState.SUPERSEDED,
    }
)
WAITING_STATES = frozenset({DeliveryState.PENDING, DeliveryState.DEFERRED})

ALLOWED: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset(
        {
            DeliveryState.SENDING,
            DeliveryState.DEFERRED,
            DeliveryState.SUPPRESSED,
            DeliveryState.SUPERSEDED,
            DeliveryState.FAILED,
        }
    ),
    DeliveryState.DEFERRED: frozenset(
        {
            DeliveryState.SENDING,
            DeliveryState.DEFERRED,
            DeliveryState.SUPPRESSED,
            DeliveryState.SUPERSEDED,
        }
    ),
    DeliveryState.SENDING: frozenset(
        {
            DeliveryState.SENT,
            DeliveryState.PENDING,  # a transient failure: try again later
            DeliveryState.FAILED,
            DeliveryState.POSSIBLY_SENT,
        }
    ),
}


def can_move(current: DeliveryState, target: DeliveryState) -> bool:
    """Final states never change: that is what makes a redelivered event harmless."""
    return target in ALLOWED.get(current, frozenset())


class ReminderState(StrEnum):
    """One reminder per client and schedule start (see iop_notifier/reminders.py)."""

    WAITING = "waiting"  # not due yet
    PLANNED = "planned"  # its deliveries exist: it is the deliveries' business now
    SKIPPED = "skipped"  # the schedule was first told inside the reminder's window
    EXPIRED = "expired"  # the first session began before it could be planned
    OBSOLETE = "obsolete"  # the schedule was withdrawn or starts on another date now


@dataclass(frozen=True, slots=True)
class ReminderDue:
    """When the reminder of the schedule starting on `start_date` may go (None: no session of
    that schedule takes place, so there is nothing to remind of yet)."""

    start_date: date
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """`occasion` tells apart messages of one purpose that a schedule version does not: a
    make-up's "<date>:<group_id>" (a client may have several under one version); "" otherwise."""

    client_id: str
    schedule_version: int
    purpose: Purpose
    channel: Channel
    occasion: str = ""


class OutcomeKind(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


def outcome_of(state: DeliveryState) -> OutcomeKind:
    """Which notification event reports a final state.

    POSSIBLY_SENT is reported as notification.failed with reason "possibly_sent": nobody can
    confirm the client got it, so a person should check rather than a system assume success.
    """
    if state is DeliveryState.SENT:
        return OutcomeKind.SENT
    if state in (DeliveryState.FAILED, DeliveryState.POSSIBLY_SENT):
        return OutcomeKind.FAILED
    if state in (DeliveryState.SUPPRESSED, DeliveryState.SUPERSEDED):
        return OutcomeKind.SUPPRESSED
    raise ValueError(f"state {state} is not final")


@dataclass(frozen=True, slots=True)
class Owed:
    """What a ledger still owes someone: work that setting it aside would abandon."""

    waiting: int  # deliveries pending or deferred: a client not yet told
    interrupted: int  # deliveries left SENDING by a run that died: to report as possibly sent
    held: int  # schedules and make-ups read but not yet planned: no contact details read yet

    @property
    def outstanding(self) -> bool:
        return bool(self.waiting or self.interrupted or self.held)
