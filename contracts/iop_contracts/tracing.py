"""Distributed tracing: OpenTelemetry spans from an HTTP request through every Kafka hop to the
email, in one trace (W3C Trace Context).

How the context travels:
- A published record carries its producer span's context in the ``traceparent`` and
  ``tracestate`` headers (the hop). Its CloudEvent keeps, as the CloudEvents distributed-tracing
  extension, the context the event was created in: set once, when it is made or first published,
  and never changed after (the envelope keeps what it receives).
- A consumer's span is a child of the record's ``traceparent`` header, or of the envelope's when
  the record came without one (a producer that writes only the extension).
- An event made because of another (its ``causationid``) is created in the context of the
  consumer span that handled the cause in this process, remembered by event id for a while: a
  service that answers after its handler returned (the scheduler's micro-batches, the notifier's
  delivery worker) still answers inside the trace. Otherwise it is created in the current span's
  context (an HTTP request's), and failing both, ``follow_up`` takes the cause's own extension.

On or off: tracing is on when the standard OpenTelemetry environment asks for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, and not
``OTEL_SDK_DISABLED=true``); spans then go out over OTLP/HTTP (protobuf), batched. Otherwise no
SDK is loaded and each hook below costs one check of a module attribute; an envelope's
``traceparent`` still goes out in its record's headers, so the services that do trace still
join up through one that does not.

What a span says: topic, partition, offset, consumer group, event id and type, correlation id,
HTTP method, route and status; an error by its type only. Never a key, a subject or a value
(they may be personal); an exception's message is not recorded (a server's reply may quote an
address).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

    from iop_contracts.envelope import CloudEvent

log = logging.getLogger("iop.tracing")

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# W3C Trace Context, version 00 (the only one defined): version-traceid-parentid-flags.
TRACEPARENT_PATTERN: Final = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
# W3C allows propagators to drop a longer tracestate; it is at most 32 list members.
TRACESTATE_MAX: Final = 512
# Events whose consumer span is remembered, for answers made after the handler returned. The
# scheduler answers within a batch (seconds), the notifier within a delivery round.
REMEMBERED_MAX: Final = 10_000
SCOPE: Final = "iop_contracts"

_TRACEPARENT_RE: Final = re.compile(TRACEPARENT_PATTERN)
# What every hook returns while tracing is off: entering and leaving it costs next to nothing.
_UNTRACED: Final = contextlib.nullcontext()
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

Headers: TypeAlias = "Iterable[tuple[str, bytes | str | None]] | None"
# A hook's scope: a span (current while inside), or nothing while tracing is off.
Traced: TypeAlias = contextlib.AbstractContextManager[Any]


@dataclass(frozen=True)
class TraceContext:
    """A W3C trace context as it travels: in record headers and in the envelope."""

    traceparent: str
    tracestate: str | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        found = [(TRACEPARENT, self.traceparent.encode())]
        if self.tracestate:
            found.append((TRACESTATE, self.tracestate.encode()))
        return found


def valid_traceparent(value: object) -> str | None:
    """``value`` when it is a well-formed traceparent, else None (tracing never refuses a
    record: a malformed context is dropped, the event goes on)."""
    if isinstance(value, str) and _TRACEPARENT_RE.match(value) and not value.startswith("ff"):
        return value
    return None


def valid_tracestate(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= TRACESTATE_MAX and value.isascii():
        return value
    return None


class _State:
    """The process's tracing: off (no tracer) until ``setup`` or ``use_provider`` turns it on."""

    def __init__(self) -> None:
        self.tracer: Tracer | None = None
        self.configured = False
        self.handled: dict[str, TraceContext] = {}


_state = _State()


def enabled() -> bool:
    return _state.tracer is not None


def setup(default_service: str) -> bool:
    """Turn tracing on from the standard environment, once per process (later calls change
    nothing); True when it is on. Every service's broker calls this (``make_broker``), so a
    service gets tracing without code of its own; ``default_service`` names it unless
    ``OTEL_SERVICE_NAME`` (or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) does."""
    if _state.configured:
        return enabled()
    _state.configured = True
    if _env_true("OTEL_SDK_DISABLED") or not any(os.environ.get(name) for name in _ENDPOINTS):
        return False
    # Imported here: a service with tracing off never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": default_service})
    provider = SdkTracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    log.info("tracing on: spans exported over OTLP/HTTP")
    return True


def use_provider(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (None: off). For tests (an in-memory exporter) and for
    a host process that owns its own provider; the global provider is left alone."""
    _state.tracer = provider.get_tracer(SCOPE) if provider is not None else None
    _state.configured = True
    _state.handled.clear()


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


# ------------------------------------------------------------------ contexts


def from_headers(headers: Headers) -> TraceContext | None:
    """The trace context a record's headers carry, if a valid one."""
    parent: str | None = None
    state: str | None = None
    for name, value in headers or ():
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if name == TRACEPARENT and parent is None:
            parent = valid_traceparent(text)
        elif name == TRACESTATE and state is None:
            state = valid_tracestate(text)
    return TraceContext(parent, state) if parent else None


def _otel_context(found: TraceContext | None) -> otel_context.Context | None:
    if found is None:
        return None
    carrier = {TRACEPARENT: found.traceparent}
    if found.tracestate:
        carrier[TRACESTATE] = found.tracestate
    return _PROPAGATOR.extract(carrier)


def _context_of(span: Span) -> TraceContext | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    parent = carrier.get(TRACEPARENT)
    return TraceContext(parent, carrier.get(TRACESTATE)) if parent else None


def creation_context(causationid: str | None) -> TraceContext | None:
    """The context a new event is created in: the consumer span that handled its cause here,
    else the current span's; None when tracing is off or neither is known."""
    if _state.tracer is None:
        return None
    if causationid is not None and (handled := _state.handled.get(causationid)) is not None:
        return handled
    current = trace.get_current_span()
    return _context_of(current) if current.get_span_context().is_valid else None


def _remember(event_id: str, span: Span) -> None:
    found = _context_of(span)
    if found is None:
        return
    handled = _state.handled
    handled.pop(event_id, None)
    handled[event_id] = found
    if len(handled) > REMEMBERED_MAX:
        del handled[next(iter(handled))]  # the oldest


def resumed(event_id: str | None) -> Traced:
    """Work done now for an event handled earlier in this process (the notifier's delivery of a
    schedule) happens inside that event's consumer span, while it is remembered."""
    found = _state.handled.get(event_id) if _state.tracer and event_id else None
    return _UNTRACED if found is None else _attached(found)


@contextlib.contextmanager
def _attached(found: TraceContext) -> Iterator[None]:
    parent = _otel_context(found)
    assert parent is not None
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


# ------------------------------------------------------------------ spans


@contextlib.contextmanager
def _current(span: Span) -> Iterator[Span]:
    """``span`` current and ended on exit; an error marks it by its type only (messages and
    tracebacks may quote personal data, so no exception event is recorded)."""
    with trace.use_span(
        span, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield span
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


@dataclass(frozen=True)
class Sending:
    """A publish in progress: the event as it goes out (with its creation context) and the
    headers of this hop."""

    event: CloudEvent
    hop: TraceContext | None

    def headers(self, record_headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """The record's headers with this hop's context in place of the envelope's."""
        if self.hop is None:
            return record_headers
        kept = [(k, v) for k, v in record_headers if k not in (TRACEPARENT, TRACESTATE)]
        return kept + self.hop.headers()


@contextlib.contextmanager
def sending(event: CloudEvent, topic: str) -> Iterator[Sending]:
    """The producer span of one publish, a child of the event's creation context (else of the
    current span). An event without a creation context gets this span's, once."""
    tracer = _state.tracer
    if tracer is None:
        yield Sending(event, None)
        return
    span = tracer.start_span(
        f"send {topic}",
        context=_otel_context(event.trace_context),
        kind=SpanKind.PRODUCER,
        attributes={
            **_messaging("send", topic),
            **_event_attributes(event),
        },
    )
    with _current(span):
        hop = _context_of(span)
        if event.traceparent is None and hop is not None:
            event = event.model_copy(
                update={"traceparent": hop.traceparent, "tracestate": hop.tracestate}
            )
        yield Sending(event, hop)


def consuming(
    record: ConsumerRecord[bytes, bytes],
    event: CloudEvent | None,
    *,
    group: str | None,
    operation: str = "process",
) -> Traced:
    """The consumer span of one record, current while it is handled: a child of the record's
    ``traceparent`` header, else of its envelope's. Remembered under the event's id, so that
    answers made later in this process join the trace (see ``creation_context``)."""
    tracer = _state.tracer
    if tracer is None:
        return _UNTRACED
    return _consuming(tracer, record, event, group=group, operation=operation)


@contextlib.contextmanager
def _consuming(
    tracer: Tracer,
    record: ConsumerRecord[bytes, bytes],
    event: CloudEvent | None,
    *,
    group: str | None,
    operation: str,
) -> Iterator[None]:
    parent = from_headers(record.headers) or (event.trace_context if event else None)
    attributes: dict[str, str | int] = {
        **_messaging(operation, record.topic),
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": int(record.offset),
    }
    if group:
        attributes["messaging.consumer.group.name"] = group
    if event is not None:
        attributes.update(_event_attributes(event))
    span = tracer.start_span(
        f"{operation} {record.topic}",
        context=_otel_context(parent),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    )
    if event is not None:
        _remember(event.id, span)
    with _current(span):
        yield


def refused(reason: str) -> None:
    """Mark the current span failed: its record was dead-lettered (``reason`` names fields or
    an error type, never a value; see ``consume.describe``)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {reason[:200]}"))


def client_span(name: str, attributes: dict[str, str | int]) -> Traced:
    """A span around a call to another system (an SMTP server, an SMS gateway)."""
    tracer = _state.tracer
    if tracer is None:
        return _UNTRACED
    return _current(tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes))


def _messaging(operation: str, topic: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.destination.name": topic,
    }


def _event_attributes(event: CloudEvent) -> dict[str, str]:
    attributes = {
        "messaging.message.id": event.id,
        "cloudevents.event_id": event.id,
        "cloudevents.event_type": event.type,
    }
    if event.correlationid:
        attributes["iop.correlation_id"] = event.correlationid
    return attributes


# ------------------------------------------------------------------ HTTP

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]


class TracingMiddleware:
    """ASGI middleware: one server span per HTTP request, a child of the caller's
    ``traceparent`` header when it sends one. Named by method and route template (never the
    path: it holds client ids); passes straight through while tracing is off. Probes and
    scrapes (``untraced``) are not traced: they are no one's journey, and come every few
    seconds."""

    untraced: tuple[str, ...] = ("/health", "/metrics")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _state.tracer
        path = str(scope.get("path", ""))
        if tracer is None or scope.get("type") != "http" or path.startswith(self.untraced):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        headers = [(k.decode("latin-1"), v) for k, v in scope.get("headers", ())]
        span = tracer.start_span(
            method,
            context=_otel_context(from_headers(headers)),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        )
        status: list[int] = []

        async def send_traced(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))
            await send(message)

        with _current(span):
            try:
                await self.app(scope, receive, send_traced)
            finally:
                _close_server_span(span, scope, method, status)


def _close_server_span(span: Span, scope: Scope, method: str, status: list[int]) -> None:
    route = getattr(scope.get("route"), "path", None)
    if isinstance(route, str):
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    if status:
        span.set_attribute("http.response.status_code", status[0])
        if status[0] >= 500:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status[0]}"))
