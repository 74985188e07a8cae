"""Turn a final ledger state into the notification event that reports it."""

import uuid

from iop_contracts.envelope import CloudEvent, new_event
from iop_contracts.payloads import (
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
    NotificationSuppressed,
)

from iop_notifier.adapters.ledger_sqlite import Delivery
from iop_notifier.domain.ledger import (
    DeliveryState,
    OutcomeKind,
    Purpose,
    outcome_of,
    purpose_told,
)

SOURCE = "/iop/notifier"
_IDS = uuid.UUID("5b0f4a52-94c6-4c8e-9a43-1c1b7e0f6d11")


def outcome_event(delivery: Delivery) -> CloudEvent:
    """The event id is derived from the delivery and its state, so reporting the same outcome
    twice (a crash after publishing, before marking it reported) gives consumers the same id.

    `purpose` names the message (see domain.ledger.purpose_told). The reason of a message that
    is not a schedule's confirmation or update still starts with its ledger purpose ("cancel",
    "cancel:no_consent", "reminder:expired", "makeup:withdrawn"), as consumers read it before
    `purpose` existed. A make-up reports the client's schedule_version when it was planned (0
    when the notifier knew no schedule of the client's)."""
    key = delivery.key
    kind = outcome_of(delivery.state)
    payload: NotificationOutcome
    fields = {
        "client_id": key.client_id,
        "schedule_version": key.schedule_version,
        "channel": key.channel,
        "purpose": purpose_told(key.purpose, delivery.updated),
    }
    reason = delivery.reason or delivery.state.value
    if key.purpose is not Purpose.CONFIRM:
        reason = f"{key.purpose.value}:{reason}"
    if kind is OutcomeKind.SENT:
        payload = NotificationSent(
            **fields, reason=None if key.purpose is Purpose.CONFIRM else key.purpose.value
        )
    elif kind is OutcomeKind.FAILED:
        payload = NotificationFailed(**fields, reason=reason)
    else:
        payload = NotificationSuppressed(**fields, reason=reason)
    name = f"{key.client_id}:{key.schedule_version}:{key.purpose}:{key.channel}:{delivery.state}"
    if key.occasion:  # two make-ups under one schedule version are two messages
        name = f"{name}:{key.occasion}"
    return new_event(
        payload,
        source=SOURCE,
        event_id=str(uuid.uuid5(_IDS, name)),
        correlationid=delivery.correlation_id or delivery.cause_event_id,
        causationid=delivery.cause_event_id,
    )


__all__ = ["DeliveryState", "outcome_event"]
