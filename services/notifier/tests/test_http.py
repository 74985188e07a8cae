"""The HTTP surface without a broker: liveness, not-ready before start, metrics, and the inbound
keyword webhook: signed by the gateway, size-capped, E.164 only, one answer for every number."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.asgi import AsgiFastStream
from iop_contracts.kafka import KafkaSettings, make_broker
from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.app import build_app
from iop_notifier.http import MAX_INBOUND_BYTES, routes
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.settings import NotifierSettings

from .kafka_helpers import wait_until
from .stubs import DIGEST_KEY, INBOUND_SECRET, running, signed, test_settings
from .test_worker import Harness

PHONE = "+16175550101"  # c-1: consented to SMS at enrollment, Spanish
SILENT_PHONE = "+16175550102"  # c-2: enrolled without SMS consent, Spanish
STRANGER = "+16175550999"  # nobody's


def fullwidth(digits: str) -> str:
    """The same digits in full width (U+FF10..): digits to str.isdigit(), not to E.164."""
    return "".join(chr(0xFF10 + int(d)) for d in digits)


def client_for(app: AsgiFastStream) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")


async def test_create_app_connects_nothing_and_is_live_not_ready() -> None:
    settings = NotifierSettings(
        kafka=KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    )
    app = build_app(settings)  # an unreachable broker: building the app must not care
    async with client_for(app) as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 503
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "notifier_sent_total" in metrics.text
        assert (await http.get("/v1/sms/inbound")).status_code == 405


class Wired:
    """A runtime whose ledger, worker and contacts are a harness's (no Kafka involved)."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.h = Harness(tmp_path)
        self.settings = NotifierSettings(**settings)
        broker = make_broker(self.settings.kafka, client_id="t")
        self.runtime = NotifierRuntime(self.settings, broker, clock=self.h.clock)
        self.runtime.ledger, self.runtime.worker = self.h.ledger, self.h.worker
        self.runtime.directory = self.h.directory
        self.h.contact("c-1", sms_consent=True, phone=PHONE, language="es")
        self.h.contact("c-2", sms_consent=False, phone=SILENT_PHONE, language="es")
        self.ledger: SqliteLedger = self.h.ledger

    def http(self) -> httpx.AsyncClient:
        return client_for(AsgiFastStream(self.runtime.broker, asgi_routes=routes(self.runtime)))

    async def keyword(self, phone: object, text: str) -> httpx.Response:
        """A keyword signed as the gateway signs it, at the runtime's clock."""
        async with self.http() as http:
            payload = signed({"from": phone, "text": text}, self.h.clock())
            return await http.post("/v1/sms/inbound", **payload)


@pytest.fixture
def wired(tmp_path: Path) -> Wired:
    return Wired(tmp_path, sms_inbound_secret=INBOUND_SECRET, phone_digest_key=DIGEST_KEY)


async def test_stop_and_start_change_consent_at_once(wired: Wired) -> None:
    stop = await wired.keyword(PHONE, "stop")
    assert stop.json() == {"action": "opted_out"} and wired.ledger.sms_allowed(PHONE) is False
    start = await wired.keyword(PHONE, "START")
    assert start.json() == {"action": "opted_in"} and wired.ledger.sms_allowed(PHONE) is True


async def test_stop_before_the_schedule_suppresses_the_sms(wired: Wired) -> None:
    await wired.keyword(PHONE, "STOP")
    wired.h.schedule("c-1")
    await wired.h.worker.run_once()
    assert wired.h.sms.sent == []
    assert ("suppressed", "sms", 1, "opted_out") in wired.h.published.outcomes()


async def test_an_unsigned_or_badly_signed_keyword_changes_nothing(wired: Wired) -> None:
    """Anyone could STOP or START any number: no token was configured by default."""
    body = {"from": PHONE, "text": "STOP"}
    now = wired.h.clock()
    good = signed(body, now)
    attempts: list[dict[str, Any]] = [
        {"json": body},
        {"json": body, "headers": {"Authorization": "Bearer anything"}},
        signed(body, now, secret="not-the-gateway-secret-0000"),
        {"content": good["content"].replace(b"STOP", b"stop"), "headers": good["headers"]},
        {"content": good["content"], "headers": {**good["headers"], "X-Signature-Timestamp": "1"}},
    ]
    async with wired.http() as http:
        for attempt in attempts:
            refused = await http.post("/v1/sms/inbound", **attempt)
            assert refused.status_code == 401, attempt
    assert wired.ledger.sms_answers() == []


async def test_with_no_secret_configured_every_keyword_is_refused(tmp_path: Path) -> None:
    wired = Wired(tmp_path)  # SMS off: no secret, no key
    assert (await wired.keyword(PHONE, "STOP")).status_code == 401
    async with wired.http() as http:
        unsigned = await http.post("/v1/sms/inbound", json={"from": PHONE, "text": "STOP"})
    assert unsigned.status_code == 401 and wired.ledger.sms_answers() == []


async def test_stale_future_and_replayed_signatures_are_refused(wired: Wired) -> None:
    now = wired.h.clock()
    window = timedelta(seconds=wired.settings.sms_inbound_max_skew_s + 1)
    async with wired.http() as http:
        for at in (now - window, now + window):
            late = await http.post("/v1/sms/inbound", **signed({"from": PHONE, "text": "STOP"}, at))
            assert late.status_code == 401
        assert wired.ledger.sms_answers() == []

        start = signed({"from": PHONE, "text": "START"}, now)
        assert (await http.post("/v1/sms/inbound", **start)).status_code == 200
        wired.h.clock.advance(seconds=30)
        stop = signed({"from": PHONE, "text": "STOP"}, wired.h.clock())
        assert (await http.post("/v1/sms/inbound", **stop)).status_code == 200
        # The START captured earlier, sent again: it must not undo the STOP.
        replayed = await http.post("/v1/sms/inbound", **start)
        assert replayed.status_code == 401
    assert wired.ledger.sms_allowed(PHONE) is False


async def test_a_request_answered_while_starting_can_be_retried(wired: Wired) -> None:
    ledger, worker = wired.runtime.ledger, wired.runtime.worker
    wired.runtime.ledger = wired.runtime.worker = None  # as before the lifespan opened them
    request = signed({"from": PHONE, "text": "STOP"}, wired.h.clock())
    async with wired.http() as http:
        assert (await http.post("/v1/sms/inbound", **request)).status_code == 503
        wired.runtime.ledger, wired.runtime.worker = ledger, worker
        assert (await http.post("/v1/sms/inbound", **request)).status_code == 200
    assert wired.ledger.sms_allowed(PHONE) is False


@pytest.mark.parametrize(
    "headers",
    [
        [(b"Authorization", "Bearer clé".encode())],
        [(b"Authorization", b"Bearer \xff\xfe")],
        [(b"X-Signature-Timestamp", b"1764590400"), (b"X-Signature", "sha256=é".encode())],
        [
            (b"X-Signature-Timestamp", fullwidth("1764590400").encode()),
            (b"X-Signature", b"sha256=00"),
        ],
        [(b"X-Signature-Timestamp", b"abc"), (b"X-Signature", b"sha256=" + b"0" * 64)],
        [(b"X-Signature-Timestamp", b"1764590400"), (b"X-Signature", b"md5=" + b"0" * 32)],
    ],
)
async def test_non_ascii_or_malformed_auth_headers_are_401_not_500(
    wired: Wired, headers: list[tuple[bytes, bytes]]
) -> None:
    async with wired.http() as http:
        answer = await http.post(
            "/v1/sms/inbound", content=b'{"from": "+16175550101", "text": "STOP"}', headers=headers
        )
    assert answer.status_code == 401 and wired.ledger.sms_answers() == []


async def test_a_signature_header_given_twice_is_refused(wired: Wired) -> None:
    request = signed({"from": PHONE, "text": "STOP"}, wired.h.clock())
    headers = [(k.encode(), v.encode()) for k, v in request["headers"].items()]
    headers.append((b"X-Signature", request["headers"]["X-Signature"].encode()))
    async with wired.http() as http:
        answer = await http.post("/v1/sms/inbound", content=request["content"], headers=headers)
    assert answer.status_code == 401


async def test_help_is_one_text_for_every_number(wired: Wired) -> None:
    """HELP answered in Spanish for a client's number, English for a stranger's: it told anyone
    that the number belonged to a patient (42 CFR Part 2)."""
    replies = [
        (await wired.keyword(phone, word)).json()
        for phone in (PHONE, SILENT_PHONE, STRANGER)
        for word in ("HELP", "AYUDA", "info")
    ]
    assert all(reply == replies[0] for reply in replies)
    assert replies[0] == {"action": "help", "reply": wired.runtime.help_reply}


async def test_start_never_grants_consent_the_client_did_not_give(wired: Wired) -> None:
    """START turned SMS on for a client who never consented."""
    answers = [(await wired.keyword(phone, "START")).json() for phone in (SILENT_PHONE, STRANGER)]
    consenting = (await wired.keyword(PHONE, "START")).json()
    assert answers == [consenting, consenting], "the same answer, known number or not"
    assert wired.ledger.sms_allowed(SILENT_PHONE) is None
    assert wired.ledger.sms_allowed(STRANGER) is None
    wired.h.schedule("c-2")
    await wired.h.worker.run_once()
    assert wired.h.sms.sent == []
    assert ("suppressed", "sms", 1, "no_consent") in wired.h.published.outcomes()


async def test_start_from_a_shared_phone_does_not_text_the_client_who_never_consented(
    wired: Wired,
) -> None:
    wired.h.contact("c-3", sms_consent=False, phone=PHONE)  # shares c-1's phone
    await wired.keyword(PHONE, "STOP")
    await wired.keyword(PHONE, "START")
    assert wired.ledger.sms_allowed(PHONE) is True  # c-1 gave consent: it is restored
    wired.h.schedule("c-3")
    await wired.h.worker.run_once()
    assert wired.h.sms.sent == []


@pytest.mark.parametrize(
    "phone",
    [
        "junk",
        "",
        "12345",
        "+0123456789",
        "+12345",
        "+1617555010112345678",
        "+1 617 555 0101",
        "+16175550101\n",
        "+" + fullwidth("16175550101"),
        16175550101,
        None,
        ["+16175550101"],
    ],
)
async def test_a_from_that_is_not_e164_is_refused_and_nothing_stored(
    wired: Wired, phone: object
) -> None:
    answer = await wired.keyword(phone, "STOP")
    assert answer.status_code == 422 and wired.ledger.sms_answers() == []


@pytest.mark.parametrize(
    "body", [b"nope", b"[]", b'{"text": "STOP"}', b'{"from": "+1", "text": 5}']
)
async def test_a_body_that_is_not_a_keyword_message_is_422(wired: Wired, body: bytes) -> None:
    async with wired.http() as http:
        answer = await http.post("/v1/sms/inbound", **signed(body, wired.h.clock()))
    assert answer.status_code == 422 and wired.ledger.sms_answers() == []


def padded(size: int) -> bytes:
    """A valid, signed-size STOP message of exactly `size` bytes."""
    head = b'{"from": "+16175550101", "text": "STOP'
    tail = b'"}'
    return head + b" " * (size - len(head) - len(tail)) + tail


async def test_bodies_over_the_cap_are_413_and_change_nothing(wired: Wired) -> None:
    """A 20 MB body was read whole and accepted."""
    async with wired.http() as http:
        for size in (MAX_INBOUND_BYTES + 1, 20 * 1024 * 1024):
            body = padded(size)
            answer = await http.post("/v1/sms/inbound", **signed(body, wired.h.clock()))
            assert answer.status_code == 413
        assert wired.ledger.sms_answers() == []
        at_cap = await http.post(
            "/v1/sms/inbound", **signed(padded(MAX_INBOUND_BYTES), wired.h.clock())
        )
    assert at_cap.status_code == 200 and wired.ledger.sms_allowed(PHONE) is False


async def test_a_streamed_body_is_not_read_past_the_cap(wired: Wired) -> None:
    """Without Content-Length the cap still holds: reading stops at the first chunk beyond it."""
    read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20 * 1024):  # 20 MB in 1 KiB chunks
            read.append(1)
            yield b"x" * 1024

    async with wired.http() as http:
        answer = await http.post("/v1/sms/inbound", content=chunks())
    assert answer.status_code == 413
    assert len(read) <= MAX_INBOUND_BYTES // 1024 + 2


@pytest.mark.integration
async def test_liveness_turns_false_when_a_reading_task_stops(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    """A notifier whose contact reader died used to answer live (200) and read nothing."""
    async with running(test_settings(kafka_bootstrap, tmp_path, unique)) as runtime:
        app = AsgiFastStream(runtime.broker, asgi_routes=routes(runtime))
        async with client_for(app) as http:
            await wait_until(lambda: runtime.ready, 30)
            assert (await http.get("/health/live")).status_code == 200
            assert runtime.reader is not None and runtime.reader._task is not None
            runtime.reader._task.cancel()
            await wait_until(lambda: not runtime.alive, 10)
            assert (await http.get("/health/live")).status_code == 500
            assert (await http.get("/health/ready")).status_code == 503
