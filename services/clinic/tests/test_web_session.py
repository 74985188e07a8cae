"""The board's signed session cookies: a forged, tampered, expired or signed-out cookie is no
session; CSRF tokens compare exactly; the sign-in form's token expires."""

import pytest
from iop_clinic.web.session import SIGN_IN_TTL_S, Signer, secret_of


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> Signer:
    return Signer(b"a test secret of enough length", clock)


def test_a_session_reads_back_until_it_expires(signer: Signer, clock: Clock) -> None:
    started, cookie = signer.start("ab" * 32, ttl_s=600)
    assert signer.session(cookie) == started
    clock.now += 599
    assert signer.session(cookie) == started
    clock.now += 1
    assert signer.session(cookie) is None


def test_a_tampered_or_foreign_cookie_is_no_session(signer: Signer) -> None:
    _, cookie = signer.start("ab" * 32, ttl_s=600)
    payload, _, signature = cookie.partition(".")
    other = Signer(b"another secret entirely", signer._clock)
    forged = other.sign({"key": "cd" * 32, "sid": "x", "csrf": "y", "expires": 2_000_000_000})
    flipped = "1" if signature.endswith("0") else "0"
    assert signer.session(f"{payload}.{signature[:-1]}{flipped}") is None
    assert signer.session(f"{payload[:-2]}.{signature}") is None
    assert signer.session(forged) is None
    assert signer.session("") is None
    assert signer.session(None) is None
    assert signer.session("not-base64!.abc") is None


def test_a_signed_object_missing_a_field_is_no_session(signer: Signer) -> None:
    assert signer.session(signer.sign({"key": "k", "sid": "s"})) is None
    assert (
        signer.session(signer.sign({"key": "k", "sid": "s", "csrf": "c", "expires": "x"})) is None
    )


def test_a_signed_out_session_stays_out_even_replayed(signer: Signer) -> None:
    first, cookie = signer.start("ab" * 32, ttl_s=600)
    _, other_cookie = signer.start("ab" * 32, ttl_s=600)
    signer.end(first)
    assert signer.session(cookie) is None
    assert signer.session(other_cookie) is not None, "only the session signed out ends"


def test_each_session_has_its_own_csrf_token_checked_exactly(signer: Signer) -> None:
    one, _ = signer.start("ab" * 32, ttl_s=600)
    two, _ = signer.start("ab" * 32, ttl_s=600)
    assert one.csrf != two.csrf and one.sid != two.sid
    assert one.csrf_ok(one.csrf)
    assert not one.csrf_ok(two.csrf)
    assert not one.csrf_ok(None)
    assert not one.csrf_ok("")


def test_the_sign_in_token_is_vouched_for_by_its_cookie_and_expires(
    signer: Signer, clock: Clock
) -> None:
    token, cookie = signer.sign_in_token()
    other_token, other_cookie = signer.sign_in_token()
    assert signer.sign_in_ok(cookie, token)
    assert not signer.sign_in_ok(cookie, other_token)
    assert not signer.sign_in_ok(None, token)
    assert not signer.sign_in_ok(cookie, None)
    clock.now += SIGN_IN_TTL_S
    assert not signer.sign_in_ok(other_cookie, other_token)


def test_without_a_configured_secret_each_process_draws_its_own() -> None:
    assert secret_of("configured") == b"configured"
    assert secret_of(None) != secret_of(None)
    assert len(secret_of(None)) == 32
