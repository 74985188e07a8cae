"""Phone numbers: the E.164 form the notifier accepts, and the keyed digest the ledger keeps.

The ledger stores a phone's STOP/START answer under HMAC-SHA256(NOTIFIER_PHONE_DIGEST_KEY, phone).
An unkeyed SHA-256 of a phone number hides nothing: a country's numbers are few enough (~10^10)
to try them all in minutes. Without the key, a keyed digest says nothing about the number.
"""

import hashlib
import hmac

from iop_contracts.payloads import E164Phone
from pydantic import TypeAdapter, ValidationError

from iop_notifier.domain.contacts import ContactDirectory

KEYED_SCHEME = "hmac-sha256"
UNKEYED_SCHEME = "sha256"  # ledgers written before the key: rekeyed at start (see the ledger)
MIN_KEY_BYTES = 32

_E164 = TypeAdapter(E164Phone)  # the contract's own definition of a phone number


def is_e164(value: object) -> bool:
    """+, a country code and 7 to 15 digits in all, nothing else (as the contract requires)."""
    if not isinstance(value, str):
        return False
    try:
        _E164.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


def unkeyed_digest(phone: str) -> str:
    """The digest ledgers stored before the key; only ever computed to find and rekeyed them."""
    return hashlib.sha256(phone.encode()).hexdigest()


class PhoneDigests:
    """Keyed digests of phone numbers. The key never leaves this object."""

    scheme = KEYED_SCHEME

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the phone digest key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def of(self, phone: str) -> str:
        return hmac.new(self._key, phone.encode(), hashlib.sha256).hexdigest()

    @property
    def key_check(self) -> str:
        """Tells keys apart without revealing them: the ledger records it to notice a new key."""
        return hmac.new(self._key, b"iop-notifier key check", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"PhoneDigests(<key {self.key_check}>)"


class KnownPhones(ContactDirectory):
    """The contact directory, also telling the phones of its cards: the only numbers whose
    unkeyed digests the ledger can recompute and rekey."""

    def phones(self) -> frozenset[str]:
        # Read from the cards themselves, whichever way the directory filled them (put, or
        # folding events): a phone missed here would have its STOP deleted by the rekeying.
        return frozenset(card.phone for card in self._cards.values() if card.phone is not None)
