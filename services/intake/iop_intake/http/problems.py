"""Error answers of the HTTP API: fields named, values never echoed."""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from iop_intake.errors import BrokerUnavailable, NotReady, OutOfScope, Unauthenticated

# Where a request part is named by FastAPI ("body", "header", ...), drop it: callers want the field.
_PARTS = {"body", "query", "path", "header", "cookie"}
_CONTACT_FIELD = re.compile(r"^contact\.")


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One entry per bad field: its dotted path and the reason, without the offending value."""
    problems = []
    for error in errors:
        loc: Sequence[Any] = error.get("loc", ())
        if loc and loc[0] in _PARTS:
            loc = loc[1:]
        field = ".".join(str(part) for part in loc) or "(body)"
        message = str(error.get("msg", "invalid"))
        if _CONTACT_FIELD.match(field):
            # Email and phone validators may quote characters of the value: personal data.
            message = f"invalid ({error.get('type', 'value_error')})"
        problems.append({"field": field, "message": message})
    return problems


async def on_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": field_problems(error.errors())}, status_code=422)


def unavailable(retry_after_s: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": message}, status_code=503, headers={"Retry-After": str(retry_after_s)}
    )


def install(app: Any, retry_after_s: int) -> None:
    async def on_broker_unavailable(_: Request, __: Exception) -> JSONResponse:
        return unavailable(retry_after_s, "the broker did not acknowledge; nothing was accepted")

    async def on_not_ready(_: Request, __: Exception) -> JSONResponse:
        return unavailable(retry_after_s, "intake is still reading the topics; retry shortly")

    async def on_unauthenticated(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "a valid API key is required (X-API-Key or Authorization: Bearer)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def on_out_of_scope(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "this API key's scope does not cover the client's region or sites"},
            status_code=403,
        )

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(BrokerUnavailable, on_broker_unavailable)
    app.add_exception_handler(NotReady, on_not_ready)
    app.add_exception_handler(Unauthenticated, on_unauthenticated)
    app.add_exception_handler(OutOfScope, on_out_of_scope)
