"""Authentication of the inbound SMS webhook: an HMAC signature over the raw body.

The SMS gateway (or the relay in front of it) signs each POST to /v1/sms/inbound with the
secret it shares with the notifier, NOTIFIER_SMS_INBOUND_SECRET:

    X-Signature-Timestamp: 1767268800        Unix seconds when it was signed (digits only)
    X-Signature: sha256=<hex>                HMAC-SHA256(secret, timestamp + "." + raw body)

The notifier recomputes the HMAC over the exact bytes it received, before parsing them, and
compares in constant time. The timestamp must lie within NOTIFIER_SMS_INBOUND_MAX_SKEW_S
(default 300 s) of the notifier's clock, and a signature is honoured once: a request captured
in transit cannot be replayed later (a START undoing a STOP), nor within the window. A missing,
repeated, non-ASCII or malformed header, a stale timestamp, a wrong or spent signature: 401.

Signing a request from a shell, to try it:

    ts=$(date +%s); body='{"from": "+16175550101", "text": "HELP"}'
    sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}')
    curl -H "X-Signature-Timestamp: $ts" -H "X-Signature: sha256=$sig" \\
         -H 'Content-Type: application/json' -d "$body" http://127.0.0.1:8082/v1/sms/inbound
"""

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

SIGNATURE_HEADER = b"x-signature"
TIMESTAMP_HEADER = b"x-signature-timestamp"
_SIGNATURE = re.compile(rb"sha256=([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(rb"[0-9]{1,12}")

Headers = Iterable[tuple[bytes, bytes]]  # as ASGI gives them: raw bytes, names lower-case


class Refusal(StrEnum):
    MISSING = "signature_missing"
    MALFORMED = "signature_malformed"
    STALE = "timestamp_outside_window"
    WRONG = "signature_wrong"
    SPENT = "signature_replayed"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Signature value for a body signed at `timestamp` (what the gateway computes)."""
    return "sha256=" + _mac(secret, str(timestamp).encode(), body).hex()


def _mac(secret: bytes, timestamp: bytes, body: bytes) -> bytes:
    return hmac.new(secret, timestamp + b"." + body, hashlib.sha256).digest()


def _only(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The header's value when it is given exactly once (two values: which one was signed?)."""
    values = [value for key, value in headers if key.lower() == name]
    return values[0] if len(values) == 1 else None


class WebhookVerifier:
    """Checks signatures and remembers those honoured until they fall out of the window."""

    def __init__(self, secret: bytes, max_skew_s: int, remember_at_most: int = 100_000) -> None:
        self._secret = secret
        self.max_skew_s = max_skew_s
        self._remember_at_most = remember_at_most
        self._spent: dict[bytes, float] = {}  # signature -> when it can no longer be replayed

    def verify(self, headers: Headers, body: bytes, now: datetime) -> bytes | Refusal:
        """The signature, if the request is authentic and new; else why it is refused."""
        pairs = list(headers)
        timestamp, given = _only(pairs, TIMESTAMP_HEADER), _only(pairs, SIGNATURE_HEADER)
        if timestamp is None or given is None:
            return Refusal.MISSING
        signature = _SIGNATURE.fullmatch(given)
        if not _TIMESTAMP.fullmatch(timestamp) or signature is None:
            return Refusal.MALFORMED
        if abs(now.timestamp() - int(timestamp)) > self.max_skew_s:
            return Refusal.STALE
        mac = bytes.fromhex(signature.group(1).decode("ascii"))
        if not hmac.compare_digest(mac, _mac(self._secret, timestamp, body)):
            return Refusal.WRONG
        self._forget_expired(now)
        if mac in self._spent:
            return Refusal.SPENT
        return mac

    def spend(self, signature: bytes, now: datetime) -> None:
        """Called once the request was acted on: the same signature is refused from now on.
        (A request answered 503 is not spent, so the gateway's retry of it is honoured.)"""
        if len(self._spent) >= self._remember_at_most:
            self._spent.pop(next(iter(self._spent)))  # the oldest; bounded memory under a flood
        # Remembered past the window on both sides: its timestamp is refused as stale by then.
        self._spent[signature] = now.timestamp() + 2 * self.max_skew_s

    def _forget_expired(self, now: datetime) -> None:
        moment = now.timestamp()
        while self._spent:
            oldest = next(iter(self._spent))
            if self._spent[oldest] > moment:
                return
            del self._spent[oldest]
