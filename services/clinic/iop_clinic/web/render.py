"""Rendering the board: Jinja2 templates (autoescaped), the headers every page carries, and the
route class that turns a refusal into a page instead of the JSON API's problem details."""

import logging
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from iop_contracts import week_of

from iop_clinic.errors import BrokerUnavailable, NotReady
from iop_clinic.http.problems import Problem, field_problems
from iop_clinic.web.access import BoardRefusal, SignInNeeded

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PREFIX = "/board"

# Pages hold clients' first names: never cached, never framed, never sent as a referrer; only the
# board's own script and style run (no inline script, so an injected one could not).
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _day(value: date) -> str:
    return value.strftime("%a %d %b")


def _hours(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["day"] = _day
    env.filters["hours"] = _hours
    env.filters["isoweek"] = week_of
    env.filters["words"] = lambda value: str(value).replace("_", " ")
    return env


templates = Jinja2Templates(env=_environment())


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, {"prefix": PREFIX, **context}, status)
    response.headers.update(HEADERS)
    return response


def see_other(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(HEADERS)
    return response


def sign_in_url(request: Request) -> str:
    """The sign-in page, asked to come back here afterwards (a GET's own path only)."""
    if request.method != "GET":
        return f"{PREFIX}/sign-in"
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/sign-in?next={quote(here, safe='')}"


def refusal_page(request: Request, status: int, message: str) -> Response:
    return page(request, "refused.html", {"status": status, "message": message}, status)


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class BoardRoute(APIRoute):
    """A board route: no session sends the browser to sign in; a refusal, a malformed address,
    a read model still catching up or a broker that did not acknowledge is a page saying so."""

    def get_route_handler(self) -> Endpoint:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except SignInNeeded:
                return see_other(sign_in_url(request))
            except BoardRefusal as refusal:
                return refusal_page(request, refusal.status, refusal.message)
            except Problem as problem:
                return refusal_page(request, problem.status, problem.detail)
            except RequestValidationError as invalid:
                fields = ", ".join(p["field"] for p in field_problems(invalid.errors()))
                return refusal_page(
                    request, 422, f"This address is not one the board reads ({fields})."
                )
            except NotReady:
                message = "The board is still reading the topics; try again in a few seconds."
                return refusal_page(request, 503, message)
            except BrokerUnavailable:
                message = "The broker did not acknowledge; nothing was lost, try again."
                return refusal_page(request, 503, message)
            response.headers.update(HEADERS)
            return response

        return handler
