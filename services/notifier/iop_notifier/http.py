"""The notifier's HTTP surface: health, metrics and the inbound SMS keyword webhook.

Plain ASGI callables mounted on FastStream's AsgiFastStream. The keyword webhook is
authenticated by an HMAC signature over its raw body (webhook_signature.py).
"""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.asgi import AsgiResponse
from faststream.asgi.request import AsgiRequest
from faststream.asgi.response import JSONResponse
from faststream.asgi.types import Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from iop_notifier.domain.keywords import Keyword, keyword_of
from iop_notifier.domain.phones import is_e164
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.webhook_signature import Refusal

AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("iop_notifier.http")

# A keyword message is a phone number and a few words; the cap bounds what is read unverified.
MAX_INBOUND_BYTES = 4096


def _route(
    methods: tuple[str, ...], handler: Callable[[AsgiRequest, Scope], Awaitable[AsgiResponse]]
) -> AsgiApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in methods:
            response = AsgiResponse(b"Method Not Allowed", 405, {"Allow": ", ".join(methods)})
        else:
            response = await handler(AsgiRequest(scope, receive, send), scope)
        await response(scope, receive, send)

    return app


def routes(runtime: NotifierRuntime) -> list[tuple[str, AsgiApp]]:
    async def live(request: AsgiRequest, scope: Scope) -> AsgiResponse:
        if not runtime.alive:
            return JSONResponse({"status": "a reading or delivering task stopped"}, 500)
        return JSONResponse({"status": "live"})

    async def ready(request: AsgiRequest, scope: Scope) -> AsgiResponse:
        if not runtime.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        if not await runtime.broker.ping(timeout=2.0):
            return JSONResponse({"status": "broker unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: AsgiRequest, scope: Scope) -> AsgiResponse:
        body = generate_latest(runtime.metrics.registry)
        return AsgiResponse(body, 200, {"Content-Type": CONTENT_TYPE_LATEST})

    async def inbound(request: AsgiRequest, scope: Scope) -> AsgiResponse:
        return await sms_inbound(runtime, request, scope)

    return [
        ("/health/live", _route(("GET", "HEAD"), live)),
        ("/health/ready", _route(("GET", "HEAD"), ready)),
        ("/metrics", _route(("GET",), metrics)),
        ("/v1/sms/inbound", _route(("POST",), inbound)),
    ]


async def sms_inbound(runtime: NotifierRuntime, request: AsgiRequest, scope: Scope) -> AsgiResponse:
    """A keyword from a phone, signed by the gateway: {"from": "+1617...", "text": "STOP"}.

    Checked in this order: size (413), signature (401, see webhook_signature.py), shape and an
    E.164 `from` (422). Then STOP turns SMS off for the phone and START back on, before this
    returns; HELP gets the one help text. The answer never depends on whether the number is a
    client's: that alone would disclose care (42 CFR Part 2).
    """
    verifier = runtime.inbound_verifier
    if verifier is None:  # no NOTIFIER_SMS_INBOUND_SECRET: nobody can be authenticated
        return _refused("no_secret_configured")
    body = await _body_within(request, MAX_INBOUND_BYTES)
    if body is None:
        return JSONResponse({"error": f"body larger than {MAX_INBOUND_BYTES} bytes"}, 413)
    now = runtime.clock()
    signature = verifier.verify(scope["headers"], body, now)
    if isinstance(signature, Refusal):
        return _refused(signature.value)
    message = _keyword_message(body)
    if isinstance(message, str):
        return JSONResponse({"error": message}, status_code=422)
    if runtime.ledger is None or runtime.worker is None:
        return JSONResponse({"error": "starting"}, status_code=503)  # not spent: retry it
    verifier.spend(signature, now)
    phone, keyword = message
    return JSONResponse(_answer(runtime, phone, keyword))


def _refused(reason: str) -> AsgiResponse:
    log.warning("inbound sms refused", extra={"reason": reason})
    return JSONResponse({"error": "unauthorized"}, status_code=401)


async def _body_within(request: AsgiRequest, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed `limit` (never read further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _keyword_message(body: bytes) -> tuple[str, Keyword | None] | str:
    """(phone, keyword) from the body, or what is wrong with it."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("text", ""), str):
        return "expected a JSON object with 'from' and 'text'"
    phone = data.get("from")
    if not is_e164(phone):
        return "'from' must be a phone number in E.164 form (+ and 7 to 15 digits)"
    return str(phone), keyword_of(data.get("text", ""))


def _answer(runtime: NotifierRuntime, phone: str, keyword: Keyword | None) -> dict[str, str]:
    assert runtime.ledger is not None and runtime.worker is not None
    if keyword is Keyword.STOP:
        runtime.ledger.set_sms_allowed(phone, False, runtime.clock())
        runtime.worker.wake()
        return {"action": "opted_out"}
    if keyword is Keyword.START:
        # START restores consent given at enrollment; it never grants it. Same answer either way.
        if _consented_at_enrollment(runtime, phone):
            runtime.ledger.set_sms_allowed(phone, True, runtime.clock())
            runtime.worker.wake()
        return {"action": "opted_in"}
    if keyword is Keyword.HELP:
        return {"action": "help", "reply": runtime.help_reply}
    return {"action": "none"}


def _consented_at_enrollment(runtime: NotifierRuntime, phone: str) -> bool:
    cards = (runtime.directory.get(c) for c in runtime.directory.clients_with_phone(phone))
    return any(card is not None and card.sms_consent for card in cards)
