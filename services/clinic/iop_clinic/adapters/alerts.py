"""Publishing the read model's due alerts once: client.hours_at_risk per client-week,
client.attendance_alert per streak of absences, and (with CLINIC_AUTO_MAKEUP) a make-up request
beside each hours_at_risk.

"Once" rests on three things. The read model remembers every alert on iop.attendance.v1 (the
table reader reads them back, also after a restart), so `due_alerts` stops naming one once it
is there. The alert is applied to the read model the moment the broker acknowledged it, and a
lock keeps two evaluations of one client (a record and the clock) from both publishing before
that. And its event id is derived from what it is about (client and week, client and last
absence), so that even two instances that both published it (an EHR whose partitioner differs
from ours, see `AttendanceOwnership`) give consumers, idempotent on the id, one event.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable

from aiokafka.partitioner import DefaultPartitioner
from iop_contracts import (
    ClientAttendanceAlert,
    ClientHoursAtRisk,
    CloudEvent,
    MakeupRequested,
    Payload,
    new_event,
    week_of,
)
from prometheus_client import Counter

from iop_clinic.domain import due_alerts
from iop_clinic.runtime import ClinicRuntime

log = logging.getLogger(__name__)

SOURCE = "iop-clinic"
_IDS = uuid.UUID("0b6a1c9e-6f0e-4d4e-9a51-5c1f2d0c7a11")

ALERTS = Counter("clinic_alerts_published_total", "Alerts published", ["event_type"])


def alert_event_id(payload: Payload) -> str:
    """The same id for the same alert, whoever publishes it and however often."""
    if isinstance(payload, ClientHoursAtRisk):
        about = f"hours_at_risk:{payload.client_id}:{payload.week}"
    elif isinstance(payload, ClientAttendanceAlert):
        about = f"attendance_alert:{payload.client_id}:{payload.reason}:{payload.last_date}"
    elif isinstance(payload, MakeupRequested):
        about = f"auto_makeup:{payload.client_id}:{payload.week}"
    else:
        raise TypeError(f"{type(payload).__name__} is not an alert")
    return str(uuid.uuid5(_IDS, about))


class AttendanceOwnership:
    """Which clients this instance evaluates on the clock: those whose attendance partition
    (by the client id key, with the default partitioner, as the clinic itself publishes) its
    consumer in the attendance group owns now. Nobody else's clock looks at them."""

    def __init__(self, assigned: Callable[[], set[int]], partitions: Callable[[], list[int]]):
        self._assigned = assigned
        self._partitions = partitions
        self._partitioner = DefaultPartitioner()

    def owns_any(self) -> bool:
        """Whether the group has given this instance any partition yet."""
        return bool(self._assigned())

    def owns(self, client_id: str) -> bool:
        partitions = self._partitions()
        if not partitions:
            return False
        chosen = self._partitioner(client_id.encode(), partitions, partitions)
        return chosen in self._assigned()


class AlertDesk:
    """Evaluates clients' due alerts and publishes each once (see the module docstring)."""

    def __init__(self, runtime: ClinicRuntime) -> None:
        self._runtime = runtime
        self._lock = asyncio.Lock()
        # Published by this process: the in-process guard until the read model has each one.
        self._sent: set[str] = set()

    async def evaluate(self, client_id: str, cause: CloudEvent | None = None) -> list[CloudEvent]:
        """Publish what is due for one client now; the events published."""
        runtime = self._runtime
        async with self._lock:
            today = runtime.client_today(client_id)
            due = due_alerts(
                runtime.model, client_id, today, absence_limit=runtime.settings.absence_limit
            )
            published: list[CloudEvent] = []
            for payload in due:
                published += await self._publish_once(payload, cause)
            return published

    async def sweep(self, client_ids: Iterable[str]) -> int:
        """Evaluate every client given; how many events were published."""
        count = 0
        for client_id in client_ids:
            count += len(await self.evaluate(client_id))
            await asyncio.sleep(0)  # a daily sweep of thousands of clients lets requests through
        return count

    async def _publish_once(self, payload: Payload, cause: CloudEvent | None) -> list[CloudEvent]:
        event = self._event(payload, cause)
        if event.id in self._sent:
            return []
        published = []
        makeup = self._makeup_for(payload, event)
        if makeup is not None:
            # Before the alert: a crash in between asks again after a restart (same id, so
            # the scheduler, idempotent on ids, sees one request) rather than never.
            published.append(await self._publish(makeup))
        published.append(await self._publish(event))
        self._sent.add(event.id)
        ALERTS.labels(event.type).inc()
        log.info(
            "alert published",
            extra={"client_id": payload.subject, "event_id": event.id, "event_type": event.type},
        )
        return published

    async def _publish(self, event: CloudEvent) -> CloudEvent:
        await self._runtime.publisher.publish(event)
        self._runtime.model.apply(event)
        return event

    def _makeup_for(self, payload: Payload, cause: CloudEvent) -> CloudEvent | None:
        """The make-up request an hours_at_risk brings with CLINIC_AUTO_MAKEUP, for the week
        still under way only (a past week cannot have one)."""
        if not isinstance(payload, ClientHoursAtRisk) or not self._runtime.settings.auto_makeup:
            return None
        if payload.week != week_of(self._runtime.client_today(payload.client_id)):
            return None
        request = MakeupRequested(
            client_id=payload.client_id,
            region_id=payload.region_id,
            week=payload.week,
            hours=self._runtime.settings.makeup_hours,
        )
        return self._event(request, cause)

    @staticmethod
    def _event(payload: Payload, cause: CloudEvent | None) -> CloudEvent:
        return new_event(
            payload,
            source=SOURCE,
            event_id=alert_event_id(payload),
            correlationid=cause.correlationid if cause else None,
            causationid=cause.id if cause else None,
        )
