"""A real HTTP SMS gateway stub on loopback (stdlib server in a thread) and runtime helpers."""

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from iop_contracts.kafka import KafkaSettings, make_broker
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.settings import NotifierSettings
from iop_notifier.webhook_signature import sign

# Secrets for tests only (long enough for the settings' minimums).
INBOUND_SECRET = "test-inbound-secret-0123456789"
DIGEST_KEY = "test-phone-digest-key-0123456789abcdef"


class GatewayStub:
    """Records each POSTed SMS; answers with the statuses queued in `statuses`, then 202."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.statuses: list[int] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                status = stub.statuses.pop(0) if stub.statuses else 202
                if status < 300:  # `auth` first: tests wait on `received`, then read `auth`
                    stub.auth.append(self.headers.get("Authorization"))
                    stub.received.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/sms"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "GatewayStub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def signed(
    payload: dict[str, Any] | bytes, at: datetime, secret: str = INBOUND_SECRET
) -> dict[str, Any]:
    """httpx keyword arguments for an inbound keyword POST signed as the gateway signs it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    timestamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Timestamp": str(timestamp),
        "X-Signature": sign(secret.encode(), timestamp, body),
    }
    return {"content": body, "headers": headers}


def test_settings(
    bootstrap: str, tmp_path: Path, unique: str, **overrides: Any
) -> NotifierSettings:
    return NotifierSettings(
        ledger_path=tmp_path / f"ledger-{unique}.sqlite3",
        consumer_group=f"notifier-{unique}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        worker_tick_s=0.2,
        kafka=KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": bootstrap}),
        **overrides,
    )


@asynccontextmanager
async def running(settings: NotifierSettings, **kwargs: Any) -> AsyncIterator[NotifierRuntime]:
    broker = make_broker(settings.kafka, client_id="notifier-test")
    await broker.start()
    runtime = NotifierRuntime(settings, broker, **kwargs)
    try:
        await runtime.start()
        yield runtime
    finally:
        await runtime.stop()
        await broker.stop()


test_settings.__test__ = False  # type: ignore[attr-defined]
