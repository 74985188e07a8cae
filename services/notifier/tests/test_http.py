"""The HTTP surface without a broker: liveness, not-ready before start, metrics, keywords."""

from pathlib import Path

import httpx
import pytest
from faststream.asgi import AsgiFastStream
from iop_contracts.kafka import KafkaSettings, make_broker
from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.app import create_app
from iop_notifier.http import routes
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.settings import NotifierSettings
from pydantic import SecretStr

from .kafka_helpers import wait_until
from .stubs import running, test_settings
from .test_worker import Harness

PHONE = "+16175550101"


def client_for(app: AsgiFastStream) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")


async def test_create_app_connects_nothing_and_is_live_not_ready() -> None:
    settings = NotifierSettings(
        kafka=KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    )
    app = create_app(settings)  # an unreachable broker: building the app must not care
    async with client_for(app) as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 503
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "notifier_sent_total" in metrics.text
        assert (await http.get("/v1/sms/inbound")).status_code == 405


@pytest.fixture
def wired(tmp_path: Path) -> tuple[NotifierRuntime, Harness]:
    """A runtime whose ledger and worker are the harness's (no Kafka involved)."""
    h = Harness(tmp_path)
    settings = NotifierSettings(sms_inbound_token=SecretStr("in-token"))
    runtime = NotifierRuntime(settings, make_broker(settings.kafka, client_id="t"))
    runtime.ledger, runtime.worker, runtime.directory = h.ledger, h.worker, h.directory
    h.contact("c-1", sms_consent=True, phone=PHONE, language="es")
    return runtime, h


async def test_stop_and_start_change_consent_at_once(
    wired: tuple[NotifierRuntime, Harness],
) -> None:
    runtime, h = wired
    ledger: SqliteLedger = h.ledger
    auth = {"Authorization": "Bearer in-token"}
    async with client_for(AsgiFastStream(runtime.broker, asgi_routes=routes(runtime))) as http:
        refused = await http.post("/v1/sms/inbound", json={"from": PHONE, "text": "STOP"})
        assert refused.status_code == 401 and ledger.sms_allowed(PHONE) is None
        stop = await http.post(
            "/v1/sms/inbound", json={"from": PHONE, "text": "stop"}, headers=auth
        )
        assert stop.json() == {"action": "opted_out"} and ledger.sms_allowed(PHONE) is False
        start = await http.post(
            "/v1/sms/inbound", json={"from": PHONE, "text": "START"}, headers=auth
        )
        assert start.json() == {"action": "opted_in"} and ledger.sms_allowed(PHONE) is True
        help_ = await http.post(
            "/v1/sms/inbound", json={"from": PHONE, "text": "AYUDA"}, headers=auth
        )
        assert "Llame" in help_.json()["reply"]  # the client's language
        bad = await http.post("/v1/sms/inbound", content=b"nope", headers=auth)
        assert bad.status_code == 422


async def test_stop_before_the_schedule_suppresses_the_sms(
    wired: tuple[NotifierRuntime, Harness],
) -> None:
    runtime, h = wired
    auth = {"Authorization": "Bearer in-token"}
    async with client_for(AsgiFastStream(runtime.broker, asgi_routes=routes(runtime))) as http:
        await http.post("/v1/sms/inbound", json={"from": PHONE, "text": "STOP"}, headers=auth)
    h.schedule("c-1")
    await h.worker.run_once()
    assert h.sms.sent == []
    assert ("suppressed", "sms", 1, "opted_out") in h.published.outcomes()


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
