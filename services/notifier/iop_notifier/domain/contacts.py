"""Who a client is, for messaging: the contact block and language of their enrollment."""

from dataclasses import dataclass

from iop_contracts.payloads import EnrollmentRequested


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


class ContactDirectory:
    """client_id -> the latest contact card, rebuilt from iop.enrollment.v1 at every start."""

    def __init__(self) -> None:
        self._cards: dict[str, ContactCard] = {}

    def put(self, card: ContactCard) -> None:
        self._cards[card.client_id] = card

    def get(self, client_id: str) -> ContactCard | None:
        return self._cards.get(client_id)

    def clients_with_phone(self, phone: str) -> list[str]:
        return [card.client_id for card in self._cards.values() if card.phone == phone]

    def __len__(self) -> int:
        return len(self._cards)
