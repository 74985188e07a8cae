"""The Kafka front door: `referral.submitted` on iop.referral.v1 -> screened enrollment events.

Each referral is answered with `enrollment.requested` or `enrollment.declined` carrying the
referral's correlation id, or dead-lettered to iop.referral.v1.dlq with the reason. The answer's
event id is derived from the referral's id, so a redelivered or resubmitted referral is recognised
on iop.enrollment.v1 and published once. The offset is committed only after the answer (or the
dead letter) is acknowledged by the broker.

A referral for an id that has an active enrollment, or whose record lies outside the referral's
region and sites, is dead-lettered with one reason for both, nothing published
(iop_intake.domain.identity: how a referral, which has no API key, is judged).
"""

import asyncio
import logging
import re

from faststream.kafka import KafkaMessage
from iop_contracts import CloudEvent, ContractError, ReferralSubmitted

from iop_intake.adapters.publisher import EventPublisher
from iop_intake.domain.admission import answer_event, decide, derived_event_id
from iop_intake.domain.identity import REFERRAL_REFUSED, referral_may_enroll
from iop_intake.domain.status import StatusProjection
from iop_intake.errors import BrokerUnavailable, ClientIdUnavailable

log = logging.getLogger(__name__)

CONSUMER = "iop-intake"

# Validators of contact fields (email syntax) may quote characters of the value: keep the field.
_CONTACT_PROBLEM = re.compile(r"(data\.contact\.[\w.]+): [^;]*")


def redact_reason(reason: str) -> str:
    return _CONTACT_PROBLEM.sub(r"\1: invalid", reason)


class ReferralDesk:
    """The referral subscriber's handler (run by the consumption kernel, which decodes each
    record once, dead-letters what raises and commits after the handler returns)."""

    def __init__(
        self,
        publisher: EventPublisher,
        projection: StatusProjection,
        projection_ready: asyncio.Event,
        retry_s: float = 1.0,
    ) -> None:
        self._publisher = publisher
        self._projection = projection
        self._ready = projection_ready
        self._retry_s = retry_s

    async def answer(self, referral_event: CloudEvent, message: KafkaMessage) -> None:
        """Answer one referral, once: a ContractError names what is invalid (dead letter)."""
        # Answers already on iop.enrollment.v1 are known only once the projection caught up.
        await self._ready.wait()
        try:
            referral = referral_event.payload_as(ReferralSubmitted)
        except ContractError as error:
            raise ContractError(redact_reason(str(error))) from None
        answer_id = derived_event_id("referral", referral_event.id)
        if self._projection.has_event(answer_id):
            return
        known = self._projection.get(referral.client_id)
        if not referral_may_enroll(referral.region_id, referral.preferred_site_ids, known):
            log.info(
                "referral refused",
                extra={
                    "client_id": referral.client_id,
                    "correlation_id": referral_event.correlationid,
                    "outcome": "refused",
                    "reason": "enrollment active" if known and known.enrolled else "scope",
                },
            )
            raise ClientIdUnavailable(REFERRAL_REFUSED)
        event = answer_event(
            decide(referral, referral.screening),
            event_id=answer_id,
            correlationid=referral_event.correlationid or referral_event.id,
            causationid=referral_event.id,
        )
        await self._publish_until_acknowledged(event)
        self._projection.apply(event)
        log.info(
            "referral answered",
            extra={
                "client_id": referral.client_id,
                "event_id": event.id,
                "event_type": event.type,
                "correlation_id": event.correlationid,
            },
        )

    async def _publish_until_acknowledged(self, event: CloudEvent) -> None:
        # Moving on without the answer would commit past this referral and lose it: wait for the
        # broker instead (shutdown cancels us, leaving the offset uncommitted).
        attempt = 0
        while True:
            try:
                await self._publisher.publish(event)
                return
            except BrokerUnavailable:
                attempt += 1
                log.warning(
                    "referral answer not acknowledged; retrying", extra={"attempt": attempt}
                )
                await asyncio.sleep(min(self._retry_s * attempt, 10.0))
