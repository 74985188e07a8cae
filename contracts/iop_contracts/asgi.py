"""Refuse oversized request bodies before anything parses them (413, never 5xx): ASGI
middleware shared by the services with an HTTP API (intake, clinic). Plain ASGI, so the
contracts package needs no web framework."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# What a refusal says: its content type and body, given the limit.
Refusal = Callable[[int], tuple[bytes, bytes]]


def field_refusal(max_bytes: int) -> tuple[bytes, bytes]:
    """The default answer: the body named as the field at fault."""
    body = b'{"detail":[{"field":"(body)","message":"larger than %d bytes"}]}' % max_bytes
    return b"application/json", body


class BodyLimit:
    """ASGI middleware: buffers at most `max_bytes` of a request body, else answers 413.

    Counts the bytes actually received, so a chunked body without Content-Length is bounded too.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, refusal: Refusal = field_refusal) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        body = await self._read(receive, send)
        if body is None:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once it was refused (or the client left)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        content_type, body = self.refusal(self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
