"""One enrollment is one trace: HTTP request -> intake -> iop.enrollment.v1 -> scheduler ->
iop.schedule.v1 -> notifier -> SMTP, across the services as separate processes on the real
broker.

Tracing is turned on the way an operator does it (OTEL_EXPORTER_OTLP_ENDPOINT, nothing else):
each service exports over OTLP/HTTP to a receiver this test runs on 127.0.0.1, which keeps the
spans in memory. The services name themselves (no OTEL_SERVICE_NAME is set)."""

import asyncio
import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import topics
from iop_contracts.consume import read_records
from iop_contracts.envelope import decode_record, header
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from iop.demo import post_enrollments, sample, shifted
from iop.observe import read_events
from iop.roster import publish_events, roster_events
from iop.system import System, SystemSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# The services an enrollment's journey crosses; the system runs these (and only these) here.
JOURNEY = ("scheduler", "intake", "notifier")


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    failed: bool


class OtlpReceiver:
    """An OTLP/HTTP trace receiver (protobuf, as the services' exporter sends it): every span it
    is sent, with the name of the service that sent it."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def take(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(_received(str(resource.get("service.name")), span))
        with self._lock:
            self.spans.extend(received)

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def __enter__(self) -> "OtlpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def _received(service: str, span: SpanProto) -> ReceivedSpan:
    return ReceivedSpan(
        service=service,
        name=span.name,
        kind=span.kind,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        attributes={a.key: _value(a.value) for a in span.attributes},
        failed=span.status.code == span.status.STATUS_CODE_ERROR,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def network_and_enrollment() -> tuple[dict[str, Any], dict[str, Any]]:
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"],
        date.today() + timedelta(days=3),
    )  # fmt: skip
    consenting = [e for e in enrollments if e["contact"].get("email_consent")]
    return network, consenting[0]


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory,
    receiver: OtlpReceiver,
    network_and_enrollment: tuple[dict[str, Any], dict[str, Any]],
) -> Iterator[System]:
    network, _ = network_and_enrollment
    running = System(SystemSettings.isolated(tmp_path_factory.mktemp("iop-trace")))
    # Only the services' environment: this test process itself does not trace.
    running.extra_env = {
        service: {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans leave within 0.2 s, not the default 5 s
        }
        for service in JOURNEY
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("iop.system.SERVICES", JOURNEY)
        running.start_infrastructure()
        try:
            asyncio.run(publish_events(running.bootstrap_servers, roster_events(network)))
            running.start_services()
            yield running
        finally:
            running.stop()


def wait_for_span(
    receiver: OtlpReceiver, service: str, name: str, event: str, timeout_s: float
) -> None:
    """Until the span called ``name`` from ``service`` about an ``event`` of that type has
    arrived (spans of one service come in batches, so another span of that name may come first)."""
    deadline = time.monotonic() + timeout_s
    while not any(
        s.service == service and s.name == name
        and s.attributes.get("cloudevents.event_type") == event
        for s in receiver.snapshot()
    ):  # fmt: skip
        assert time.monotonic() < deadline, f"no span {name!r} from {service} in {timeout_s} s"
        time.sleep(0.2)


def child_of(
    spans: list[ReceivedSpan], parent: ReceivedSpan, service: str, name: str, event: str = ""
) -> ReceivedSpan:
    """The one span called ``name`` from ``service`` (about an ``event`` of that type, when
    given) whose parent is ``parent``."""
    found = [
        s for s in spans
        if s.name == name and s.service == service and s.parent_id == parent.span_id
        and event in ("", s.attributes.get("cloudevents.event_type"))
    ]  # fmt: skip
    assert len(found) == 1, f"{service} {name!r} under {parent.service} {parent.name!r}: {found}"
    assert found[0].trace_id == parent.trace_id
    return found[0]


def test_one_enrollment_is_one_trace_from_the_request_to_the_email(
    system: System,
    receiver: OtlpReceiver,
    network_and_enrollment: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, enrollment = network_and_enrollment
    client_id = enrollment["client_id"]
    assert asyncio.run(post_enrollments(system.url("intake"), [enrollment])) == {}

    def sent(events: list[Any]) -> bool:
        return any(e.subject == client_id and e.type == "iop.notification.sent" for e in events)

    asyncio.run(read_events(system.bootstrap_servers, topics.NOTIFICATION, sent, 90))
    assert list(Path(system.outbox).glob("*.eml")), "the email reached the SMTP server"
    wait_for_span(
        receiver, "iop-notifier", f"send {topics.NOTIFICATION}", "iop.notification.sent", 30
    )
    spans = receiver.snapshot()

    (request,) = [s for s in spans if s.service == "iop-intake" and s.name.startswith("POST ")]
    assert request.name == "POST /v1/enrollments" and request.parent_id == ""
    published = child_of(spans, request, "iop-intake", f"send {topics.ENROLLMENT}")
    received = child_of(spans, published, "iop-scheduler", f"receive {topics.ENROLLMENT}")
    scheduled = child_of(spans, received, "iop-scheduler", f"send {topics.SCHEDULE}")
    handled = child_of(spans, scheduled, "iop-notifier", f"process {topics.SCHEDULE}")
    emailed = child_of(spans, handled, "iop-notifier", "smtp send")
    # The email's outcome; the SMS's (no consent: suppressed) is reported in the same trace.
    reported = child_of(
        spans, handled, "iop-notifier", f"send {topics.NOTIFICATION}", "iop.notification.sent"
    )

    journey = [request, published, received, scheduled, handled, emailed, reported]
    assert not any(s.failed for s in journey)
    assert scheduled.attributes["cloudevents.event_type"] == "iop.client.scheduled"
    assert {s.attributes.get("iop.correlation_id") for s in journey[1:] if s is not emailed} == {
        published.attributes["messaging.message.id"]
    }, "the trace and the correlation id tell the same journey"
    # On the wire: the schedule record's headers carry the scheduler's producer span, and its
    # envelope the context it was created in (the span that received the enrollment).
    records = asyncio.run(read_records(system.bootstrap_servers, [topics.SCHEDULE]))
    (record,) = [r for r in records if decode_record(r.value).subject == client_id]
    hop = str(header(record.headers, "traceparent"))
    assert hop.split("-")[1:3] == [scheduled.trace_id, scheduled.span_id]
    created = str(decode_record(record.value).traceparent)
    assert created.split("-")[1:3] == [received.trace_id, received.span_id]
