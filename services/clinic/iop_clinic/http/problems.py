"""Error answers as RFC 9457 problem details (application/problem+json): every 4xx says what is
wrong and names the field or the id; a value from the request is never echoed (it may be
personal data or a key)."""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from iop_clinic.errors import BrokerUnavailable, ClinicError, NotReady, Unauthenticated

MEDIA_TYPE = "application/problem+json"
_PARTS = {"body", "query", "path", "header", "cookie"}
_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Outside the key's scope",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable request",
    503: "Unavailable",
}


class Problem(ClinicError, ValueError):
    """A refusal the API answers with: its status, a sentence and the fields at fault."""

    def __init__(self, status: int, detail: str, errors: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = [dict(e) for e in errors]


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def problem_response(
    status: int,
    detail: str,
    errors: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def too_large(max_bytes: int) -> tuple[bytes, bytes]:
    """The 413 of iop_contracts.asgi.BodyLimit, as a problem."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content too large",
            "status": 413,
            "detail": f"the body is larger than {max_bytes} bytes",
            "errors": [field_error("(body)", f"larger than {max_bytes} bytes")],
        }
    )
    return MEDIA_TYPE.encode(), body.encode()


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One entry per bad field: its dotted path and the reason, without the offending value."""
    found = []
    for error in errors:
        loc: Sequence[Any] = error.get("loc", ())
        if loc and loc[0] in _PARTS:
            loc = loc[1:]
        field = ".".join(str(part) for part in loc) or "(body)"
        found.append(field_error(field, str(error.get("msg", "invalid"))))
    return found


def install(app: FastAPI, retry_after_s: int) -> None:
    retry = {"Retry-After": str(retry_after_s)}

    async def on_validation_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = field_problems(error.errors())
        fields = ", ".join(p["field"] for p in problems)
        return problem_response(422, f"invalid fields: {fields}", problems)

    async def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Problem)
        return problem_response(error.status, error.detail, error.errors)

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return problem_response(error.status_code, str(error.detail))

    async def on_broker_unavailable(_: Request, __: Exception) -> JSONResponse:
        detail = "the broker did not acknowledge; retry (a repeated record only supersedes)"
        return problem_response(503, detail, headers=retry)

    async def on_not_ready(_: Request, __: Exception) -> JSONResponse:
        detail = "the clinic is still reading the topics; retry shortly"
        return problem_response(503, detail, headers=retry)

    async def on_unauthenticated(_: Request, __: Exception) -> JSONResponse:
        detail = "a valid API key is required (X-API-Key or Authorization: Bearer)"
        return problem_response(401, detail, headers={"WWW-Authenticate": "Bearer"})

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(BrokerUnavailable, on_broker_unavailable)
    app.add_exception_handler(NotReady, on_not_ready)
    app.add_exception_handler(Unauthenticated, on_unauthenticated)
