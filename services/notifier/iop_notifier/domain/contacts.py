"""Who a client is, for messaging: the contact block and language of their current enrollment.

Only the current enrollment's contact counts, as in the scheduler's projection: an
`enrollment.requested` read while the client's enrollment is active (not withdrawn, discharged or
completed) is ignored, so a request that reuses a client's id cannot redirect that client's
messages (issue 10). Requests and their ends share a partition of iop.enrollment.v1 (keyed by
region) and are taken in the order read; a withdrawal or discharge ends the active enrollment of
its region and keeps its card (the cancellation still goes to it). A completion comes on
iop.schedule.v1 and is placed by its time: it ends the enrollment whose request came before it.
When the two topics' reads interleave so that a request made after a completion is read before
it, the request waits (up to RECENT_IDS per client) and its card is put once the completion is
read. A copy of an event (the same id among the client's last RECENT_IDS enrollment events)
changes nothing.
"""

from dataclasses import dataclass, field
from datetime import datetime

from iop_contracts.envelope import CloudEvent
from iop_contracts.payloads import ClientCompleted, EnrollmentRequested, EnrollmentWithdrawn

RECENT_IDS = 4
"""Enrollment event ids, completions and waiting requests remembered per client."""


@dataclass(frozen=True, slots=True)
class ContactCard:
    """The personal data the notifier holds in memory (never logged, never persisted)."""

    client_id: str
    first_name: str
    language: str
    email: str | None
    phone: str | None
    email_consent: bool
    sms_consent: bool

    def __repr__(self) -> str:  # keeps contact details out of tracebacks
        return f"ContactCard(client_id={self.client_id!r}, <redacted>)"

    @classmethod
    def from_enrollment(cls, enrollment: EnrollmentRequested) -> "ContactCard":
        contact = enrollment.contact
        return cls(
            client_id=enrollment.client_id,
            first_name=contact.first_name,
            language=enrollment.language,
            email=str(contact.email) if contact.email else None,
            phone=contact.phone,
            email_consent=contact.email_consent and contact.email is not None,
            sms_consent=contact.sms_consent and contact.phone is not None,
        )


@dataclass(frozen=True, slots=True)
class _Request:
    instant: datetime
    region_id: str
    card: ContactCard


@dataclass(slots=True)
class _Enrollment:
    """A client's current enrollment as far as contacts go, and what decides the next one."""

    started: datetime | None = None
    region_id: str = ""
    ended: bool = False  # withdrawn or discharged
    completions: tuple[datetime, ...] = ()
    waiting: tuple[_Request, ...] = ()
    recent_ids: tuple[str, ...] = field(default=(), repr=False)

    def first_sight(self, event_id: str) -> bool:
        if event_id in self.recent_ids:
            return False
        self.recent_ids = (*self.recent_ids, event_id)[-RECENT_IDS:]
        return True

    def completed_at(self) -> datetime | None:
        """When this enrollment completed: the first completion after its request."""
        start = self.started
        if start is None:
            return None
        return next((c for c in self.completions if c >= start), None)

    @property
    def active(self) -> bool:
        return self.started is not None and not self.ended and self.completed_at() is None


def _instant(event: CloudEvent) -> datetime:
    return event.time.replace(tzinfo=None)


class ContactDirectory:
    """client_id -> the contact card of the client's current enrollment, rebuilt from
    iop.enrollment.v1 (and iop.schedule.v1's completions) at every start."""

    def __init__(self) -> None:
        self._cards: dict[str, ContactCard] = {}
        self._enrollments: dict[str, _Enrollment] = {}

    def put(self, card: ContactCard) -> None:
        self._cards[card.client_id] = card

    def get(self, client_id: str) -> ContactCard | None:
        return self._cards.get(client_id)

    def clients_with_phone(self, phone: str) -> list[str]:
        return [card.client_id for card in self._cards.values() if card.phone == phone]

    def __len__(self) -> int:
        return len(self._cards)

    def apply(self, event: CloudEvent) -> bool:
        """Fold one event in; True when a client's card changed."""
        payload = event.payload()
        if isinstance(payload, EnrollmentRequested):
            request = _Request(
                _instant(event), payload.region_id, ContactCard.from_enrollment(payload)
            )
            return self._request(event.id, request)
        if isinstance(payload, EnrollmentWithdrawn):  # ClientDischarged too
            self._end(payload.client_id, payload.region_id, event.id)
        elif isinstance(payload, ClientCompleted):
            return self._complete(payload.client_id, _instant(event))
        return False

    def _request(self, event_id: str, request: _Request) -> bool:
        client_id = request.card.client_id
        enrollment = self._enrollments.setdefault(client_id, _Enrollment())
        if not enrollment.first_sight(event_id):
            return False
        completed = enrollment.completed_at()
        if (
            enrollment.started is None
            or enrollment.ended
            or (completed is not None and request.instant >= completed)
        ):
            self._start(enrollment, request)
            return True
        if request.instant >= enrollment.started and completed is None:
            waiting = sorted((*enrollment.waiting, request), key=lambda r: r.instant)
            enrollment.waiting = tuple(waiting[-RECENT_IDS:])
        return False

    def _start(self, enrollment: _Enrollment, request: _Request) -> None:
        enrollment.started, enrollment.ended = request.instant, False
        enrollment.region_id = request.region_id
        enrollment.waiting = tuple(w for w in enrollment.waiting if w.instant > request.instant)
        self._cards[request.card.client_id] = request.card

    def _end(self, client_id: str, region_id: str, event_id: str) -> None:
        enrollment = self._enrollments.get(client_id)
        if enrollment is None or not enrollment.first_sight(event_id):
            return
        if enrollment.active and enrollment.region_id == region_id:
            enrollment.ended, enrollment.waiting = True, ()

    def _complete(self, client_id: str, instant: datetime) -> bool:
        enrollment = self._enrollments.setdefault(client_id, _Enrollment())
        if instant in enrollment.completions:
            return False
        enrollment.completions = tuple(sorted((*enrollment.completions, instant))[-RECENT_IDS:])
        changed = False
        while not enrollment.ended and (completed := enrollment.completed_at()) is not None:
            after = [w for w in enrollment.waiting if w.instant >= completed]
            if not after:
                enrollment.waiting = ()
                break
            self._start(enrollment, after[0])
            changed = True
        return changed
