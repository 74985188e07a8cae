"""STOP/START answers are kept under a keyed digest of the phone; ledgers that stored an unkeyed
SHA-256 (reversed by trying every number) are rekeyed from the phones enrollments give."""

import hashlib
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from iop_contracts.values import Channel
from iop_notifier.adapters.ledger_sqlite import (
    PhoneDigestKeyChanged,
    Rekeyed,
    SqliteLedger,
    open_for_cluster,
)
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.ledger import FINAL_STATES, DeliveryKey, DeliveryState, Purpose
from iop_notifier.domain.phones import KnownPhones, PhoneDigests, is_e164
from iop_notifier.errors import LedgerError

from .factories import enrollment, schedule
from .fakes import FakeEmail, FakeSms
from .kafka_helpers import publish, wait_until
from .stubs import DIGEST_KEY, running, test_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = PhoneDigests(DIGEST_KEY.encode())
OTHER_KEY = PhoneDigests(b"another-phone-digest-key-0123456789abcdef")
PHONE, PHONE_2, GONE = "+16175550101", "+16175550102", "+16175550177"


def sha256(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


def old_ledger(path: Path, answers: dict[str, tuple[bool, datetime]]) -> None:
    """A ledger file as the notifier wrote it before keyed digests (d4b245a's sms_opt)."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE sms_opt (phone_sha256 TEXT PRIMARY KEY, allowed INTEGER NOT NULL, "
        "changed_at TEXT NOT NULL)"
    )
    db.executemany(
        "INSERT INTO sms_opt VALUES (?, ?, ?)",
        [(sha256(p), int(allowed), at.isoformat()) for p, (allowed, at) in answers.items()],
    )
    db.commit()
    db.close()


def stored(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT phone_digest, digest_scheme FROM sms_opt").fetchall()
    finally:
        db.close()


def test_an_answer_is_stored_under_the_keyed_digest_only(tmp_path: Path) -> None:
    """The ledger stored sha256(phone): anyone with the file recovers every number in minutes."""
    path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger(path, phone_digests=KEY)
    ledger.set_sms_allowed(PHONE, False, NOW)
    ledger.close()
    [(digest, scheme)] = stored(path)
    assert scheme == "hmac-sha256" and digest == KEY.of(PHONE)
    assert digest not in (sha256(PHONE), OTHER_KEY.of(PHONE))
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert sha256(PHONE).encode() not in raw and PHONE.encode() not in raw


def test_an_old_ledger_is_rekeyed_from_the_phones_known(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    old_ledger(path, {PHONE: (False, NOW), PHONE_2: (True, NOW), GONE: (False, NOW)})
    ledger = SqliteLedger(path, phone_digests=KEY)
    assert ledger.sms_allowed(PHONE) is None, "an unkeyed row is never read as it is"
    with caplog.at_level(logging.INFO):
        assert ledger.rekey_phone_digests({PHONE, PHONE_2, "+16175550155"}) == Rekeyed(2, 1)
    assert ledger.sms_allowed(PHONE) is False and ledger.sms_allowed(PHONE_2) is True
    assert ledger.sms_allowed(GONE) is None, "no contact card has it: deleted, not guessed"
    assert sorted(stored(path)) == sorted(
        [(KEY.of(PHONE), "hmac-sha256"), (KEY.of(PHONE_2), "hmac-sha256")]
    )
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "deleted 1 " in warning.getMessage()
    for record in caplog.records:
        for phone in (PHONE, PHONE_2, GONE):
            assert phone not in record.getMessage() and sha256(phone) not in record.getMessage()
    assert ledger.rekey_phone_digests({PHONE, GONE}) == Rekeyed(0, 0), "done once"


@pytest.mark.parametrize("keyed_is_newer", [True, False])
def test_rekeying_keeps_the_newer_of_two_answers(tmp_path: Path, keyed_is_newer: bool) -> None:
    path = tmp_path / "ledger.sqlite3"
    later = NOW + timedelta(hours=1)
    old_ledger(path, {PHONE: (False, NOW if keyed_is_newer else later)})
    ledger = SqliteLedger(path, phone_digests=KEY)
    ledger.set_sms_allowed(PHONE, True, later if keyed_is_newer else NOW)  # a START since
    ledger.rekey_phone_digests({PHONE})
    assert ledger.sms_allowed(PHONE) is keyed_is_newer


def test_without_a_key_answers_are_neither_read_nor_written(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    old_ledger(path, {PHONE: (False, NOW)})
    ledger = SqliteLedger(path)  # SMS off: no NOTIFIER_PHONE_DIGEST_KEY
    assert ledger.sms_allowed(PHONE) is None
    with pytest.raises(LedgerError, match="NOTIFIER_PHONE_DIGEST_KEY"):
        ledger.set_sms_allowed(PHONE, False, NOW)
    ledger.close()
    assert stored(path) == [(sha256(PHONE), "sha256")], "kept for when a key is configured"


def test_another_key_is_refused_while_answers_depend_on_the_first(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path, phone_digests=OTHER_KEY).close()  # no answers yet: a new key is fine
    first = SqliteLedger(path, phone_digests=KEY)
    first.set_sms_allowed(PHONE, False, NOW)
    first.close()
    with pytest.raises(PhoneDigestKeyChanged, match="NOTIFIER_PHONE_DIGEST_KEY") as refused:
        open_for_cluster(path, "cluster-a", phone_digests=OTHER_KEY)
    assert PHONE not in str(refused.value)
    assert SqliteLedger(path, phone_digests=KEY).sms_allowed(PHONE) is False


def test_known_phones_are_those_of_the_cards() -> None:
    phones = KnownPhones()
    phones.put(card("c-1", PHONE))
    phones.put(card("c-2", PHONE_2))
    phones.put(card("c-2", None))  # c-2 dropped the phone in a later enrollment
    phones.put(card("c-3", PHONE))
    assert phones.phones() == {PHONE}
    assert sorted(phones.clients_with_phone(PHONE)) == ["c-1", "c-3"]


def card(client: str, phone: str | None) -> ContactCard:
    return ContactCard.from_enrollment(enrollment(client, phone=phone))


@pytest.mark.parametrize(
    ("value", "valid"),
    [("+16175550101", True), ("+442071838750", True), ("16175550101", False), (None, False)],
)
def test_e164(value: object, valid: bool) -> None:
    assert is_e164(value) is valid


@pytest.mark.integration
async def test_a_stop_in_an_old_ledger_still_holds_after_the_upgrade(
    kafka_bootstrap: str, unique: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At start the contacts are read first, then the ledger rekeyed, then deliveries planned:
    a client whose phone said STOP before the upgrade gets no SMS after it."""
    # A number of this test's own (others on the shared broker use theirs), never one of the
    # 01xx constants above: GONE must stay the one phone no contact card has.
    client, phone = f"c-{unique}", "+1617555" + str(1_000 + int(unique, 16) % 9_000)
    settings = test_settings(kafka_bootstrap, tmp_path, unique, phone_digest_key=DIGEST_KEY)
    old_ledger(settings.ledger_path, {phone: (False, NOW), GONE: (False, NOW)})
    await publish(kafka_bootstrap, enrollment(client, sms_consent=True, phone=phone))
    sms, email = FakeSms(), FakeEmail()
    with caplog.at_level(logging.INFO):
        async with running(settings, sms=sms, email=email) as runtime:
            await publish(kafka_bootstrap, schedule(client, 1))
            key = DeliveryKey(client, 1, Purpose.CONFIRM, Channel.SMS)
            ledger = runtime.ledger
            assert ledger is not None
            await wait_until(
                lambda: (d := ledger.get(key)) is not None and d.state in FINAL_STATES, 30
            )
            delivery = ledger.get(key)
            assert delivery is not None and delivery.state is DeliveryState.SUPPRESSED
            assert delivery.reason == "opted_out" and sms.sent == []
    assert stored(settings.ledger_path) == [(KEY.of(phone), "hmac-sha256")]
    assert any("deleted 1 " in r.getMessage() for r in caplog.records)
