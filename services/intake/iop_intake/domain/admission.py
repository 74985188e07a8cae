"""From a request (HTTP body, referral or CSV row) to the one event intake answers it with."""

import uuid

from iop_contracts import (
    CloudEvent,
    EnrollmentDeclined,
    EnrollmentFields,
    EnrollmentRequested,
    Payload,
    Screening,
    new_event,
)

from iop_intake.domain.screening import DISCLAIMER, NotSuited, screen

SOURCE = "/iop/intake"

# Event ids derived from an idempotency token (Idempotency-Key, referral id, CSV row) are uuid5 in
# this namespace: a retry, a redelivered referral or a re-run import yields the same event id, so
# intake can recognise it on the topic and consumers dedupe it even if it is published twice.
_NAMESPACE = uuid.UUID("6f1d4c1e-3b7a-4c55-9a57-1f3e2b0c9d10")


def derived_event_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


class EnrollmentRequest(EnrollmentFields):
    """What the HTTP API and the CSV import take: an enrollment, with an optional screening block.

    The screening block is read by intake and never forwarded. When it is absent the request is
    taken as already screened by the front desk and becomes `enrollment.requested` as it is.
    """

    screening: Screening | None = None


def decide(request: EnrollmentFields, screening: Screening | None) -> Payload:
    """What intake publishes for a request: requested (with screened priority) or declined."""
    fields = request.model_dump(exclude={"screening"})
    if screening is None:
        return EnrollmentRequested.model_validate(fields)
    outcome = screen(screening, request.priority, request.population)
    if isinstance(outcome, NotSuited):
        return EnrollmentDeclined(
            client_id=request.client_id,
            region_id=request.region_id,
            reasons=list(outcome.reasons),
            recommended_level=outcome.recommended_level,
        )
    return EnrollmentRequested.model_validate({**fields, "priority": outcome.priority})


def answer_event(
    payload: Payload,
    *,
    event_id: str | None = None,
    correlationid: str | None = None,
    causationid: str | None = None,
    bodydigest: str | None = None,
) -> CloudEvent:
    return new_event(
        payload,
        source=SOURCE,
        event_id=event_id,
        correlationid=correlationid,
        causationid=causationid,
        bodydigest=bodydigest,
    )


__all__ = ["DISCLAIMER", "EnrollmentRequest", "answer_event", "decide", "derived_event_id"]
