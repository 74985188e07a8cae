"""Intake refuses dates outside the contract's window, without a broker: the HTTP API with a 422
naming the field and the window, the referral desk with a dead letter and no answer."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from faststream.kafka import KafkaBroker, KafkaMessage
from iop_contracts import (
    TODAY_ENV,
    CloudEvent,
    ReferralSubmitted,
    date_window,
    encode_event,
    header,
    new_event,
    topics,
)
from iop_contracts.consume import DeadLetters, handle_isolated
from iop_intake.adapters.referrals import CONSUMER, ReferralDesk
from iop_intake.domain.status import StatusProjection

from iop.broker import free_port

from .conftest import SAMPLE, SUITED_SCREENING, intake_settings, running_intake

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pin today so that no test straddles midnight between building and checking a date."""
    monkeypatch.setenv(TODAY_ENV, "2026-11-30")
    yield


@pytest.fixture(scope="module")
async def no_broker() -> AsyncIterator[httpx.AsyncClient]:
    settings = intake_settings(f"127.0.0.1:{free_port()}", shutdown_timeout_s=1.0)
    async with running_intake(settings, wait_ready=False) as (client, _):
        yield client


@pytest.mark.parametrize(
    "requested_start",
    [
        date_window(date(2026, 11, 30)).last + DAY,
        date_window(date(2026, 11, 30)).first - DAY,
        date(9999, 12, 30),
        date(1, 1, 1),
    ],
)
async def test_a_requested_start_outside_the_window_is_a_422_naming_field_and_window(
    no_broker: httpx.AsyncClient,
    enrollment: Callable[..., dict[str, Any]],
    requested_start: date,
) -> None:
    body = enrollment(requested_start=requested_start.isoformat())
    response = await no_broker.post("/v1/enrollments", json=body)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "requested_start"
    assert str(date_window()) in problem["message"]
    assert requested_start.isoformat() not in response.text


async def test_the_window_edges_pass_validation(
    no_broker: httpx.AsyncClient, enrollment: Callable[..., dict[str, Any]]
) -> None:
    """Past validation, the only thing missing is the broker: 503, not 422."""
    window = date_window()
    for edge in (window.first, window.last):
        body = enrollment(requested_start=edge.isoformat())
        response = await no_broker.post("/v1/enrollments", json=body)
        assert response.status_code == 503, response.text


@dataclass
class FakeBroker:
    """Records what the referral desk publishes (its dead letters) instead of sending it."""

    published: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        self.published.append((args, kwargs))


@dataclass
class FakePublisher:
    events: list[CloudEvent] = field(default_factory=list)

    async def publish(self, event: CloudEvent) -> None:
        self.events.append(event)


@dataclass
class FakeMessage:
    body: bytes
    raw_message: SimpleNamespace
    acked: bool = False

    async def ack(self) -> None:
        self.acked = True


def _referral_with(requested_start: date | None) -> bytes:
    """A referral record starting on the window's last day, or on `requested_start` (set on the
    wire, since the contract's models refuse to build it)."""
    body = {
        **SAMPLE,
        "client_id": "c-window",
        "screening": SUITED_SCREENING,
        "requested_start": date_window().last.isoformat(),
    }
    event = new_event(ReferralSubmitted.model_validate(body), source="/ehr/test")
    raw = json.loads(encode_event(event).value)
    if requested_start is not None:
        raw["data"]["requested_start"] = requested_start.isoformat()
    return json.dumps(raw).encode()


async def _handle(value: bytes) -> tuple[FakeMessage, FakeBroker, FakePublisher]:
    broker, publisher, ready = FakeBroker(), FakePublisher(), asyncio.Event()
    ready.set()
    desk = ReferralDesk(publisher, StatusProjection(), ready)
    raw = SimpleNamespace(
        topic=topics.REFERRAL, partition=0, offset=0, key=b"c-window", value=value, headers=[]
    )
    message = FakeMessage(value, raw)
    dead_letters = DeadLetters(cast(KafkaBroker, broker), CONSUMER)
    await handle_isolated(cast(KafkaMessage, message), desk.answer, dead_letters)
    return message, broker, publisher


async def test_a_referral_outside_the_window_is_dead_lettered_with_the_field_named() -> None:
    message, broker, publisher = await _handle(_referral_with(date(9999, 12, 30)))
    assert publisher.events == []
    [(args, kwargs)] = broker.published
    assert args[1] == topics.dlq(topics.REFERRAL)
    reasons = [value for name, value in kwargs["headers"].items() if name == "dlq_reason"]
    assert reasons and reasons[0].startswith("data.requested_start: ")
    assert str(date_window()) in reasons[0] and "9999" not in reasons[0]
    assert message.acked


async def test_a_referral_at_the_window_edge_is_answered() -> None:
    message, broker, publisher = await _handle(_referral_with(None))
    assert broker.published == []
    [answer] = publisher.events
    assert answer.type == "iop.enrollment.requested"
    assert answer.data["requested_start"] == date_window().last.isoformat()
    assert header(encode_event(answer).headers, "ce_type") == answer.type
    assert message.acked
