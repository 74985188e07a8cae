"""The front door of iop.attendance.v1, whose dead letters the clinic owns (EHRs publish there).

One consumer group for all clinic instances reads the topic record by record (the kernel's
`subscribe_isolated`): a record that does not decode, belongs to another topic, or records a
client who is not expected at that session is dead-lettered with the reason; after a good
attendance record the client's due alerts are evaluated (the clinic's own alerts, read back
here too, are left to the table reader). Records the clinic's HTTP API published were judged
when they were accepted and are not judged again: a schedule change since must not turn an
accepted record into a dead letter.
"""

from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaMessage
from iop_contracts import AttendanceRecorded, CloudEvent, topics
from prometheus_client import Counter

from iop_clinic.adapters.alerts import SOURCE, AlertDesk
from iop_clinic.domain import Clinic
from iop_clinic.errors import NotExpected, WrongTopic
from iop_clinic.runtime import ClinicRuntime

CONSUMER = "iop-clinic-attendance"

RECORDS = Counter("clinic_attendance_records_total", "Attendance records judged", ["outcome"])


def not_expected(model: Clinic, record: AttendanceRecorded) -> bool:
    occurrence = model.expected(
        record.client_id, record.date, record.kind, record.group_id, record.therapist_id
    )
    return occurrence is None


class AttendanceDesk:
    def __init__(
        self,
        runtime: ClinicRuntime,
        alerts: AlertDesk,
        catch_up: Callable[[], Awaitable[None]],
    ) -> None:
        self._runtime = runtime
        self._alerts = alerts
        # Reads the topics up to their current end: a record judged "not expected" is judged
        # again after it, in case the schedule that expects the client came in meanwhile.
        self._catch_up = catch_up
        self.handled = 0  # attendance records judged and evaluated (tests wait for them)

    async def answer(self, event: CloudEvent, _: KafkaMessage) -> None:
        payload = event.payload()
        if payload.topic != topics.ATTENDANCE:
            raise WrongTopic(f"{event.type} belongs on {payload.topic}, not {topics.ATTENDANCE}")
        if not isinstance(payload, AttendanceRecorded):
            return
        await self._runtime.model_ready.wait()
        if event.source != SOURCE:
            await self._judge(payload)
        self._runtime.model.apply(event)
        RECORDS.labels("accepted").inc()
        await self._alerts.evaluate(payload.client_id, cause=event)
        self.handled += 1

    async def _judge(self, record: AttendanceRecorded) -> None:
        if not not_expected(self._runtime.model, record):
            return
        await self._catch_up()
        if not_expected(self._runtime.model, record):
            RECORDS.labels("not_expected").inc()
            where = record.group_id or record.therapist_id
            raise NotExpected(
                f"client {record.client_id} is not expected at the {record.kind} session "
                f"of {where} on {record.date.isoformat()}"
            )
