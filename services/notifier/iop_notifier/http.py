"""The notifier's HTTP surface: health, metrics and the inbound SMS keyword webhook.

Plain ASGI callables mounted on FastStream's AsgiFastStream.
"""

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.asgi import AsgiResponse
from faststream.asgi.request import AsgiRequest
from faststream.asgi.response import JSONResponse
from faststream.asgi.types import Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from iop_notifier.domain.keywords import Keyword, keyword_of
from iop_notifier.messages.render import render_help_sms
from iop_notifier.runtime import NotifierRuntime

AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
        return await sms_inbound(runtime, request)

    return [
        ("/health/live", _route(("GET", "HEAD"), live)),
        ("/health/ready", _route(("GET", "HEAD"), ready)),
        ("/metrics", _route(("GET",), metrics)),
        ("/v1/sms/inbound", _route(("POST",), inbound)),
    ]


async def sms_inbound(runtime: NotifierRuntime, request: AsgiRequest) -> AsgiResponse:
    """A keyword from a phone: {"from": "+1617...", "text": "STOP"}. STOP and START change
    consent before this returns; HELP answers with the network's name and callback number."""
    expected = runtime.settings.sms_inbound_token
    if expected is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given, f"Bearer {expected.get_secret_value()}"):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
    try:
        body: Any = json.loads(await request.body())
        phone = str(body["from"])
        text = str(body.get("text", ""))
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "expected JSON with 'from' and 'text'"}, status_code=422)
    if runtime.ledger is None or runtime.worker is None:
        return JSONResponse({"error": "starting"}, status_code=503)
    keyword = keyword_of(text)
    now = runtime.clock()
    # The reply's language: that of a client with this phone (the gateway tells us no more).
    cards = [runtime.directory.get(c) for c in runtime.directory.clients_with_phone(phone)]
    language = next((card.language for card in cards if card is not None), "en")
    if keyword is Keyword.STOP:
        runtime.ledger.set_sms_allowed(phone, False, now)
        runtime.worker.wake()
        return JSONResponse({"action": "opted_out"})
    if keyword is Keyword.START:
        runtime.ledger.set_sms_allowed(phone, True, now)
        runtime.worker.wake()
        return JSONResponse({"action": "opted_in"})
    if keyword is Keyword.HELP:
        return JSONResponse(
            {"action": "help", "reply": render_help_sms(language, runtime.identity)}
        )
    return JSONResponse({"action": "none"})
