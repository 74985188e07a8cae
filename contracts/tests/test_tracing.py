"""Tracing: the envelope keeps the distributed-tracing extension, a published record carries its
producer span's context in its headers, a consumer's span is the child of it, answers made later
join the trace, and with tracing off nothing is traced but the context still travels.

Spans go to an in-memory exporter; the last test crosses the real embedded broker."""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage
from iop_contracts import topics, tracing
from iop_contracts.consume import DeadLetters, handle_isolated, read_records, subscribe_isolated
from iop_contracts.envelope import (
    CloudEvent,
    decode_record,
    encode_event,
    follow_up,
    header,
    new_event,
)
from iop_contracts.kafka import KafkaSettings, make_broker, publish_event
from iop_contracts.payloads import ClientUnscheduled, EnrollmentWithdrawn
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from iop.broker import ensure_topics

FOREIGN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for this test only (a fresh process state, put back after)."""
    monkeypatch.setattr(tracing, "_state", tracing._State())
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    provider.shutdown()


@pytest.fixture
def tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_state", tracing._State())
    tracing.use_provider(None)


class CapturingBroker:
    """Stands in for a FastStream broker: keeps what publish_event hands it."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    @property
    def kafka(self) -> KafkaBroker:
        return cast(KafkaBroker, self)

    async def publish(self, value: bytes, topic: str, **options: Any) -> None:
        self.published.append({"value": value, "topic": topic, **options})

    def consumer_record(self, index: int = -1, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
        """The published record as a consumer would read it."""
        sent = self.published[index]
        headers = [(k, v.encode()) for k, v in sent["headers"].items()]
        return ConsumerRecord(
            sent["topic"], 0, offset, 0, 0, sent["key"], sent["value"], None, 0, 0, headers
        )


def withdrawn(client_id: str = "c-1") -> CloudEvent:
    return new_event(EnrollmentWithdrawn(client_id=client_id, region_id="ne"), source="/t")


def unscheduled(cause: CloudEvent) -> CloudEvent:
    payload = ClientUnscheduled(
        client_id=cause.data["client_id"], region_id="ne", cause="withdrawn"
    )
    return follow_up(payload, cause=cause, source="/t")


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def only(found: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [s for s in found if s.name == name]
    assert len(matching) == 1, [s.name for s in found]
    return matching[0]


def fake_message(record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
    async def ack() -> None:
        return None

    return types.SimpleNamespace(raw_message=record, ack=ack)  # type: ignore[return-value]


# ------------------------------------------------------------------ the envelope


def test_the_envelope_keeps_the_traceparent_it_receives_through_decode_and_encode() -> None:
    event = withdrawn().model_copy(update={"traceparent": FOREIGN, "tracestate": "vendor=1"})
    record = encode_event(event)
    decoded = decode_record(record.value)
    assert (decoded.traceparent, decoded.tracestate) == (FOREIGN, "vendor=1")
    again = json.loads(encode_event(decoded).value)
    assert (again["traceparent"], again["tracestate"]) == (FOREIGN, "vendor=1")
    assert header(record.headers, "traceparent") == FOREIGN
    assert header(record.headers, "tracestate") == "vendor=1"


def test_a_malformed_traceparent_is_dropped_and_the_event_kept() -> None:
    for bad in ("not-a-context", "ff-" + FOREIGN[3:], 42, FOREIGN.upper()):
        value = json.loads(encode_event(withdrawn()).value) | {"traceparent": bad}
        event = decode_record(json.dumps(value).encode())
        assert event.traceparent is None, bad
        assert event.data["client_id"] == "c-1"


def test_an_event_without_trace_context_keeps_its_wire_format(tracing_off: None) -> None:
    record = encode_event(withdrawn())
    assert "traceparent" not in json.loads(record.value)
    assert header(record.headers, "traceparent") is None


# ------------------------------------------------------------------ publish and consume


async def test_a_published_record_carries_its_producer_spans_context(
    spans: InMemorySpanExporter,
) -> None:
    broker = CapturingBroker()
    await publish_event(broker.kafka, withdrawn())
    producer = only(list(spans.get_finished_spans()), f"send {topics.ENROLLMENT}")
    assert producer.kind is SpanKind.PRODUCER
    assert producer.attributes is not None
    assert producer.attributes["messaging.destination.name"] == topics.ENROLLMENT
    sent = broker.published[0]
    assert sent["headers"]["traceparent"] == traceparent_of(producer)
    # Made outside any span, the event takes the producer span as the context it was created in.
    assert json.loads(sent["value"])["traceparent"] == traceparent_of(producer)


async def test_a_handlers_span_is_the_child_of_the_producers_and_parents_its_answers(
    spans: InMemorySpanExporter,
) -> None:
    broker = CapturingBroker()
    await publish_event(broker.kafka, withdrawn())

    async def answer(event: CloudEvent, _: KafkaMessage) -> None:
        await publish_event(broker.kafka, unscheduled(event))

    dead = DeadLetters(broker.kafka, "test")
    await handle_isolated(fake_message(broker.consumer_record(0)), answer, dead, group="g-1")
    found = list(spans.get_finished_spans())
    sent = only(found, f"send {topics.ENROLLMENT}")
    handled = only(found, f"process {topics.ENROLLMENT}")
    answered = only(found, f"send {topics.SCHEDULE}")
    assert handled.kind is SpanKind.CONSUMER
    assert parent_id(handled) == sent.context.span_id
    assert parent_id(answered) == handled.context.span_id
    assert {s.context.trace_id for s in found} == {sent.context.trace_id}
    assert handled.attributes is not None
    assert handled.attributes["messaging.consumer.group.name"] == "g-1"
    # The answer was created in the handler's span: that is its envelope's context.
    assert json.loads(broker.published[1]["value"])["traceparent"] == traceparent_of(handled)


async def test_an_answer_made_after_the_receive_span_ended_joins_the_trace(
    spans: InMemorySpanExporter,
) -> None:
    """The scheduler's case: records are received, then answered later in a batch."""
    broker = CapturingBroker()
    await publish_event(broker.kafka, withdrawn())
    record = broker.consumer_record(0)
    cause = decode_record(record.value)
    with tracing.consuming(record, cause, group="scheduler", operation="receive"):
        pass
    await publish_event(broker.kafka, unscheduled(cause))
    found = list(spans.get_finished_spans())
    received = only(found, f"receive {topics.ENROLLMENT}")
    answered = only(found, f"send {topics.SCHEDULE}")
    assert parent_id(received) == only(found, f"send {topics.ENROLLMENT}").context.span_id
    assert parent_id(answered) == received.context.span_id


async def test_work_resumed_for_a_handled_event_is_inside_its_consumer_span(
    spans: InMemorySpanExporter,
) -> None:
    """The notifier's case: the email goes out from the delivery worker, later."""
    broker = CapturingBroker()
    await publish_event(broker.kafka, withdrawn())
    record = broker.consumer_record(0)
    event = decode_record(record.value)
    with tracing.consuming(record, event, group="notifier"):
        pass
    with tracing.resumed(event.id), tracing.client_span("smtp send", {"server.port": 25}):
        pass
    with tracing.resumed("an-event-never-handled-here"), tracing.client_span("sms send", {}):
        pass
    found = list(spans.get_finished_spans())
    handled = only(found, f"process {topics.ENROLLMENT}")
    assert parent_id(only(found, "smtp send")) == handled.context.span_id
    assert only(found, "sms send").parent is None


async def test_a_dead_lettered_record_fails_its_span_without_quoting_the_record(
    spans: InMemorySpanExporter,
) -> None:
    broker = CapturingBroker()
    record = ConsumerRecord(
        topics.ENROLLMENT, 1, 7, 0, 0, b"ne", b'{"contact": "ana@example.org"}', None, 0, 0,
        [("traceparent", FOREIGN.encode())],
    )  # fmt: skip

    async def never(event: CloudEvent, _: KafkaMessage) -> None:
        raise AssertionError("an undecodable record reaches no handler")

    await handle_isolated(fake_message(record), never, DeadLetters(broker.kafka, "t"))
    handled = only(list(spans.get_finished_spans()), f"process {topics.ENROLLMENT}")
    assert handled.status.status_code is StatusCode.ERROR
    assert f"{handled.parent.trace_id:032x}" == FOREIGN.split("-")[1]  # type: ignore[union-attr]
    assert broker.published[0]["topic"] == topics.dlq(topics.ENROLLMENT)
    said = {**dict(handled.attributes or {}), "status": handled.status.description}
    assert "ana@example.org" not in json.dumps(said)
    assert "ne" not in said.values(), "the record's key is not an attribute"


async def test_a_record_without_headers_is_parented_on_its_envelope(
    spans: InMemorySpanExporter,
) -> None:
    event = withdrawn().model_copy(update={"traceparent": FOREIGN})
    wire = encode_event(event)
    record = ConsumerRecord(wire.topic, 0, 0, 0, 0, wire.key, wire.value, None, 0, 0, [])
    with tracing.consuming(record, decode_record(wire.value), group=None):
        pass
    handled = only(list(spans.get_finished_spans()), f"process {topics.ENROLLMENT}")
    assert handled.parent is not None
    assert f"00-{handled.parent.trace_id:032x}-{handled.parent.span_id:016x}" == FOREIGN[:-3]


# ------------------------------------------------------------------ off


async def test_with_tracing_off_no_span_is_made_and_the_context_still_travels(
    tracing_off: None,
) -> None:
    broker = CapturingBroker()
    cause = withdrawn().model_copy(update={"traceparent": FOREIGN})
    answer = unscheduled(cause)
    assert answer.traceparent == FOREIGN  # follow_up takes the cause's context
    await publish_event(broker.kafka, answer)
    assert broker.published[0]["headers"]["traceparent"] == FOREIGN
    assert tracing.creation_context(None) is None


def test_setup_follows_the_standard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cases: list[tuple[dict[str, str], bool, str | None]] = [
        ({}, False, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, True, "iop-test"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"}, True, "iop-test"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "desk"},
            True,
            "desk",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"},
         False, None),
    ]  # fmt: skip
    for env, on, service in cases:
        for name in (*tracing._ENDPOINTS, "OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(tracing, "_state", tracing._State())
        assert tracing.setup("iop-test") is on, env
        assert tracing.setup("another-name") is on, "the first call decides"
        if service is not None:
            resource = cast(Any, tracing._state.tracer).resource
            assert resource.attributes["service.name"] == service
        tracing.use_provider(None)


# ------------------------------------------------------------------ HTTP


async def test_an_http_request_is_a_server_span_named_by_its_route_that_parents_its_events(
    spans: InMemorySpanExporter,
) -> None:
    made: list[CloudEvent] = []

    async def withdraw(request: Request) -> JSONResponse:
        made.append(withdrawn(request.path_params["client_id"]))
        return JSONResponse({}, status_code=202)

    async def ready(_: Request) -> JSONResponse:
        return JSONResponse({})

    routes = [
        Route("/enrollments/{client_id}", withdraw, methods=["DELETE"]),
        Route("/health/ready", ready),
    ]
    app = tracing.TracingMiddleware(Starlette(routes=routes))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        response = await client.delete("/enrollments/c-77", headers={"traceparent": FOREIGN})
        assert (await client.get("/health/ready")).status_code == 200
    assert response.status_code == 202
    # Probes are not traced: the request is the only span.
    (served,) = spans.get_finished_spans()
    assert served.name == "DELETE /enrollments/{client_id}"
    assert served.kind is SpanKind.SERVER
    assert served.parent is not None and f"{served.parent.span_id:016x}" == FOREIGN.split("-")[2]
    assert served.attributes is not None
    assert served.attributes["http.response.status_code"] == 202
    assert "c-77" not in json.dumps(dict(served.attributes)) + served.name
    assert made[0].traceparent == traceparent_of(served)


# ------------------------------------------------------------------ on the real broker


@pytest.mark.integration
async def test_one_trace_across_a_real_broker_hop(
    spans: InMemorySpanExporter, kafka_bootstrap: str, unique: str
) -> None:
    source, answers = f"iop.trace-in-{unique}.v1", f"iop.trace-out-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {source: 1, answers: 1})
    broker = make_broker(KafkaSettings.local(kafka_bootstrap), client_id=f"trace-{unique}")
    handled = asyncio.Event()

    async def answer(event: CloudEvent, _: KafkaMessage) -> None:
        await publish_event(broker, unscheduled(event), topic=answers)
        handled.set()

    subscribe_isolated(
        broker, source, group_id=f"g-{unique}", handle=answer,
        dead_letters=DeadLetters(broker, "trace-test"), session_timeout_ms=6000,
    )  # fmt: skip
    async with broker:
        await broker.start()
        await publish_event(broker, withdrawn(), topic=source)
        await asyncio.wait_for(handled.wait(), 60)
    found = list(spans.get_finished_spans())
    sent = only(found, f"send {source}")
    received = only(found, f"process {source}")
    answered = only(found, f"send {answers}")
    assert parent_id(received) == sent.context.span_id
    assert parent_id(answered) == received.context.span_id
    assert len({s.context.trace_id for s in found}) == 1
    wire = await read_records(kafka_bootstrap, [source, answers])
    by_topic = {record.topic: dict(record.headers) for record in wire}
    assert by_topic[source]["traceparent"].decode() == traceparent_of(sent)
    assert by_topic[answers]["traceparent"].decode() == traceparent_of(answered)
