"""The board's sessions: a staff member's API key, checked once at sign-in, becomes a signed
cookie that names the key by its sha256 digest (as CLINIC_API_KEYS holds it; never the key).

The cookie's value is `<payload>.<signature>`: the payload is URL-safe base64 of a small JSON
object (key digest, session id, CSRF token, expiry), the signature an HMAC-SHA256 of the payload
with the session secret. A cookie whose signature fails, whose expiry has passed, or whose
session was signed out is no session. The scope is looked up from the digest on every request,
so a key removed from CLINIC_API_KEYS ends its sessions at the next restart.

CSRF: every session carries a random token that each form posts back (and the board's script
sends with each fetch); before sign-in a short-lived signed cookie carries one for the sign-in
form. Both cookies are HttpOnly and SameSite=Strict, scoped to the board's path.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

SESSION_COOKIE = "iop_board"
SIGN_IN_COOKIE = "iop_board_sign_in"
SIGN_IN_TTL_S = 30 * 60
OPEN = "open"
"""The key digest of a session when authentication is off (CLINIC_AUTH_DISABLED)."""

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Session:
    key: str  # the key's sha256 digest, or OPEN
    sid: str
    csrf: str
    expires: int  # Unix seconds

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf, presented)


class Signer:
    """Signs and checks the board's cookies with one secret."""

    def __init__(self, secret: bytes, clock: Clock = time.time) -> None:
        self._secret = secret
        self._clock = clock
        # Sessions signed out before their expiry: sid -> expiry (forgotten once expired).
        self._ended: dict[str, int] = {}

    def now(self) -> int:
        return int(self._clock())

    def sign(self, data: dict[str, object]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode()
        return f"{payload}.{self._mac(payload)}"

    def unsign(self, value: str | None) -> dict[str, object] | None:
        """The signed object, or None when the value is missing, forged or malformed."""
        payload, _, signature = (value or "").partition(".")
        if not signature or not hmac.compare_digest(signature, self._mac(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except (binascii.Error, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _mac(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ sessions

    def start(self, key: str, ttl_s: int) -> tuple[Session, str]:
        """A new session for a key digest, and its cookie value."""
        session = Session(
            key=key,
            sid=secrets.token_urlsafe(16),
            csrf=secrets.token_urlsafe(32),
            expires=self.now() + ttl_s,
        )
        return session, self.sign(asdict(session))

    def session(self, value: str | None) -> Session | None:
        data = self.unsign(value)
        if data is None:
            return None
        try:
            session = Session(
                key=str(data["key"]),
                sid=str(data["sid"]),
                csrf=str(data["csrf"]),
                expires=int(str(data["expires"])),
            )
        except (KeyError, ValueError):
            return None
        if session.expires <= self.now() or session.sid in self._ended:
            return None
        return session

    def end(self, session: Session) -> None:
        """Sign a session out: its cookie, even replayed, is no session any more."""
        now = self.now()
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}
        self._ended[session.sid] = session.expires

    # ----------------------------------------------------------- sign-in CSRF

    def sign_in_token(self) -> tuple[str, str]:
        """A token for the sign-in form, and the cookie that vouches for it."""
        token = secrets.token_urlsafe(32)
        return token, self.sign({"csrf": token, "expires": self.now() + SIGN_IN_TTL_S})

    def sign_in_ok(self, cookie: str | None, presented: str | None) -> bool:
        data = self.unsign(cookie)
        if data is None or presented is None:
            return False
        expected, expires = str(data.get("csrf", "")), data.get("expires")
        fresh = isinstance(expires, int) and expires > self.now()
        return fresh and bool(expected) and hmac.compare_digest(expected, presented)


def secret_of(configured: str | None) -> bytes:
    """The configured secret, or a random one for this process (see ClinicSettings)."""
    return configured.encode() if configured else secrets.token_bytes(32)
