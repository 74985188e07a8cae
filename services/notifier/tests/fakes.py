"""In-memory stand-ins for the worker's edges, for unit tests."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from iop_contracts.envelope import CloudEvent


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)


class FakeEmail:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: list[Exception] = []  # raised, in order, before sends succeed
        self.on_send: Callable[[], None] | None = None

    async def send(self, message: EmailMessage) -> None:
        if self.on_send:
            self.on_send()
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures: list[Exception] = []

    async def send(self, to: str, body: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((to, body))


class Published:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def __call__(self, event: CloudEvent) -> None:
        self.events.append(event)

    def outcomes(self) -> list[tuple[str, str, int, str | None]]:
        return [
            (
                e.type.removeprefix("iop.notification."),
                e.data["channel"],
                e.data["schedule_version"],
                e.data["reason"],
            )
            for e in self.events
        ]
