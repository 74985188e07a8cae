"""Email with a parseable .ics across DST, a deferred SMS through a real HTTP gateway stub, a
reschedule that updates the same calendar entries, and STOP over HTTP: with the real broker,
aiosmtpd and an HTTP server on loopback, and an injected clock (no sleeping until 08:00)."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from faststream.asgi import AsgiFastStream
from icalendar import Calendar
from iop_contracts import topics
from iop_contracts.envelope import decode_record
from iop_contracts.values import Channel
from iop_notifier.adapters.smtp_sink import SmtpSink
from iop_notifier.domain.discretion import is_discreet
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose
from iop_notifier.http import routes

from .factories import enrollment, schedule
from .fakes import FakeClock
from .kafka_helpers import TopicReader, publish, wait_until
from .stubs import DIGEST_KEY, INBOUND_SECRET, GatewayStub, running, signed, test_settings

pytestmark = pytest.mark.integration
NY = ZoneInfo("America/New_York")
PHONE = "+16175550123"


def calendar(message: object) -> Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]  # type: ignore[attr-defined]
    return Calendar.from_ical(part.get_content())


async def test_email_sms_reschedule_and_stop(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    client = f"c-{unique}"
    clock = FakeClock(datetime(2026, 10, 30, 22, 30, tzinfo=NY))  # a Friday night, still EDT
    with SmtpSink(tmp_path / "outbox") as sink, GatewayStub() as gateway:
        settings = test_settings(
            kafka_bootstrap,
            tmp_path,
            unique,
            smtp_port=sink.port,
            smtp_tls="plaintext",  # the loopback sink speaks no TLS
            sms_gateway_url=gateway.url,
            sms_gateway_token="gw-token",
            sms_inbound_secret=INBOUND_SECRET,
            phone_digest_key=DIGEST_KEY,
        )
        async with running(settings, clock=clock) as runtime:
            assert runtime.worker is not None and runtime.ledger is not None
            await publish(
                kafka_bootstrap,
                enrollment(client, sms_consent=True, phone=PHONE),
                schedule(client, 1, start="2026-10-20", end="2026-11-24"),
            )
            await wait_until(lambda: len(sink.messages()) == 1, 30)

            # The email's calendar: 18:00 local on both sides of the Nov 1 DST change.
            first = calendar(sink.messages()[0])
            monday = next(e for e in first.walk("VEVENT") if e["DTSTART"].dt.weekday() == 0)
            assert monday["DTSTART"].dt.astimezone(UTC) == datetime(2026, 10, 26, 22, 0, tzinfo=UTC)
            tz = first.walk("VTIMEZONE")[0].to_tz()
            after_dst = datetime(2026, 11, 2, 18, 0, tzinfo=tz)
            assert after_dst.astimezone(UTC) == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)

            # 22:30: the SMS waits for 08:00; nothing reached the gateway.
            sms_v1 = DeliveryKey(client, 1, Purpose.CONFIRM, Channel.SMS)
            await wait_until(
                lambda: (
                    (d := runtime.ledger.get(sms_v1)) is not None  # type: ignore[union-attr]
                    and d.state is DeliveryState.DEFERRED
                ),
                10,
            )
            assert gateway.received == []
            deferred = runtime.ledger.get(sms_v1)
            assert deferred is not None
            assert deferred.next_attempt_at == datetime(2026, 10, 31, 8, 0, tzinfo=NY)

            clock.set(datetime(2026, 10, 31, 8, 0, tzinfo=NY))
            runtime.worker.wake()
            await wait_until(lambda: len(gateway.received) == 1, 10)
            body = gateway.received[0]["body"]
            assert gateway.received[0]["to"] == PHONE and gateway.auth == ["Bearer gw-token"]
            assert len(body) <= 160 and is_discreet(body)
            assert settings.network_name in body and settings.callback_number in body

            # Reschedule: one more email, same UIDs, higher SEQUENCE.
            await publish(
                kafka_bootstrap,
                schedule(
                    client,
                    2,
                    start="2026-10-20",
                    end="2026-11-24",
                    sessions=[
                        {"day": "tue", "start": "17:00", "end": "20:00"},
                        {"day": "thu", "start": "17:00", "end": "20:00"},
                    ],
                    rescheduled=True,
                ),
            )
            await wait_until(lambda: len(sink.messages()) == 2, 30)
            second = calendar(sink.messages()[1])
            uids = lambda cal: {str(e["UID"]) for e in cal.walk("VEVENT")}  # noqa: E731
            assert uids(second) == uids(first)
            assert min(int(e["SEQUENCE"]) for e in second.walk("VEVENT")) > max(
                int(e["SEQUENCE"]) for e in first.walk("VEVENT")
            )

            # The v2 SMS hits the one-a-day limit; STOP arrives before it may go.
            sms_v2 = DeliveryKey(client, 2, Purpose.CONFIRM, Channel.SMS)
            await wait_until(
                lambda: (
                    (d := runtime.ledger.get(sms_v2)) is not None  # type: ignore[union-attr]
                    and d.state is DeliveryState.DEFERRED
                ),
                10,
            )
            app = AsgiFastStream(runtime.broker, asgi_routes=routes(runtime))
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://notifier"
            ) as http:
                stop = signed({"from": PHONE, "text": "STOP"}, clock())
                answer = await http.post("/v1/sms/inbound", **stop)
                assert answer.json() == {"action": "opted_out"}
                help_ = signed({"from": PHONE, "text": "HELP"}, clock())
                help_reply = await http.post("/v1/sms/inbound", **help_)
                assert settings.callback_number in help_reply.json()["reply"]
            clock.set(datetime(2026, 11, 1, 9, 0, tzinfo=NY))
            runtime.worker.wake()
            await wait_until(
                lambda: runtime.ledger.get(sms_v2).state is DeliveryState.SUPPRESSED,  # type: ignore[union-attr]
                10,
            )

            async with TopicReader(kafka_bootstrap, topics.NOTIFICATION) as out:

                def outcomes() -> set[tuple[str, str, int, str | None]]:
                    return {
                        (e.type, e.data["channel"], e.data["schedule_version"], e.data["reason"])
                        for e in (decode_record(r.value) for r in out.records)
                        if e.subject == client
                    }

                expected = {
                    ("iop.notification.sent", "email", 1, None),
                    ("iop.notification.sent", "sms", 1, None),
                    ("iop.notification.sent", "email", 2, None),
                    ("iop.notification.suppressed", "sms", 2, "opted_out"),
                }
                await wait_until(lambda: outcomes() >= expected, 20, poll=out.poll)
                assert outcomes() == expected
        assert len(gateway.received) == 1 and len(sink.messages()) == 2
