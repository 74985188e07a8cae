"""The board's pages under /board: sign-in and sign-out, and per site the week, the roll call,
compliance and capacity; per client their page. Every form carries the session's CSRF token.

Writes go through the JSON API's own functions (the roll call and the make-up request), called
in-process with the signed-in key's principal, so the board records exactly what the API would
and refuses exactly what it would."""

import logging
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from iop_contracts import IsoWeek, week_of
from iop_contracts.access import key_digest
from pydantic import TypeAdapter, ValidationError

from iop_clinic.domain import Clinic, SiteView
from iop_clinic.http import attendance, board
from iop_clinic.web import pages
from iop_clinic.web.access import (
    BoardRefusal,
    Staff,
    client_in_scope,
    occurrence_in_scope,
    runtime_of,
    signer_of,
    site_in_scope,
    sites_in_scope,
    staff_of,
)
from iop_clinic.web.forms import Form, form_of, marks_of
from iop_clinic.web.render import PREFIX, BoardRoute, page, see_other
from iop_clinic.web.session import OPEN, SESSION_COOKIE, SIGN_IN_COOKIE, SIGN_IN_TTL_S

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, route_class=BoardRoute, include_in_schema=False)

SignedIn = Annotated[Staff, Depends(staff_of)]
SITE_PAGES = ("week", "compliance", "capacity")
_WEEK = TypeAdapter(IsoWeek)


# --------------------------------------------------------------------- helpers


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _week(value: str | None, today: date) -> str:
    if not value:
        return week_of(today)
    try:
        return _WEEK.validate_python(value)
    except ValidationError:
        raise BoardRefusal(404, "No such week (weeks read like 2027-W09).") from None


def _around(week: str) -> dict[str, str]:
    """The weeks before and after, for the page's arrows."""
    return {"previous": pages.week_step(week, -1), "next": pages.week_step(week, 1)}


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BoardRefusal(404, "No such date.") from None


def _checked(staff: Staff, form: Form) -> None:
    if not staff.session.csrf_ok(form.get("csrf")):
        raise BoardRefusal(403, "This form has expired; reload the page and try again.")


def _frame(request: Request, staff: Staff, model: Clinic, site: SiteView | None) -> dict[str, Any]:
    """What every signed-in page shows around its content: the key, the site switcher."""
    return {
        "staff": staff,
        "csrf": staff.session.csrf,
        "sites": sites_in_scope(staff, model),
        "site": site,
        "path": request.url.path,
    }


def _local(target: str | None) -> str:
    """A board path to go back to, never another site's address."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return PREFIX


# --------------------------------------------------------------- sign in / out


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    token, cookie = signer_of(request).sign_in_token()
    auth_off = not runtime_of(request).keyring.enabled
    context = {"csrf": token, "next": _local(next), "error": None, "auth_off": auth_off}
    response = page(request, "sign_in.html", context)
    _cookie(request, response, SIGN_IN_COOKIE, cookie, SIGN_IN_TTL_S)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await form_of(request)
    signer, runtime = signer_of(request), runtime_of(request)
    if not signer.sign_in_ok(request.cookies.get(SIGN_IN_COOKIE), form.get("csrf")):
        raise BoardRefusal(403, "The sign-in form has expired; reload it and try again.")
    api_key = form.get("api_key", "").strip()
    principal = runtime.keyring.principal(api_key)
    if principal is None:
        log.info("board sign-in refused", extra={"outcome": "no such key"})
        context = {
            "csrf": form.get("csrf"),
            "next": _local(form.get("next")),
            "error": "That key is not valid.",
            "auth_off": False,
        }
        return page(request, "sign_in.html", context, 401)
    key = key_digest(api_key) if runtime.keyring.enabled else OPEN
    _, cookie = signer.start(key, runtime.settings.session_ttl_s)
    log.info("board sign-in", extra={"outcome": f"signed in as {principal.name}"})
    response = see_other(_local(form.get("next")))
    _cookie(request, response, SESSION_COOKIE, cookie, runtime.settings.session_ttl_s)
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, staff: SignedIn) -> Response:
    _checked(staff, await form_of(request))
    signer_of(request).end(staff.session)
    response = see_other(f"{PREFIX}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# ------------------------------------------------------------------- navigation


@router.get("")
@router.get("/")
async def home(request: Request, staff: SignedIn) -> Response:
    model = runtime_of(request).caught_up()
    sites = sites_in_scope(staff, model)
    if not sites:
        raise BoardRefusal(404, "Your key's sites are not on the roster yet.")
    return see_other(f"{PREFIX}/sites/{sites[0].site_id}/week")


@router.get("/switch")
async def switch(staff: SignedIn, site: str, to: str = "week") -> Response:
    """The site switcher's target (a plain GET form): the same page at another site."""
    return see_other(f"{PREFIX}/sites/{site}/{to if to in SITE_PAGES else 'week'}")


# ------------------------------------------------------------------------ pages


@router.get("/sites/{site_id}/week")
async def week(
    request: Request, staff: SignedIn, site_id: str, week: str | None = None
) -> Response:
    return _site_page(request, staff, site_id, week, "week", pages.week_page)


@router.get("/sites/{site_id}/compliance")
async def compliance(
    request: Request, staff: SignedIn, site_id: str, week: str | None = None
) -> Response:
    limit = runtime_of(request).settings.absence_limit
    build = partial(pages.compliance_page, absence_limit=limit)
    return _site_page(request, staff, site_id, week, "compliance", build)


@router.get("/sites/{site_id}/capacity")
async def capacity(
    request: Request, staff: SignedIn, site_id: str, week: str | None = None
) -> Response:
    horizon = runtime_of(request).settings.admission_horizon_days
    build = partial(pages.capacity_page, horizon_days=horizon)
    return _site_page(request, staff, site_id, week, "capacity", build, arrows=False)


def _site_page(
    request: Request,
    staff: Staff,
    site_id: str,
    week: str | None,
    tab: str,
    build: Callable[[Clinic, SiteView, str, date], object],
    arrows: bool = True,
) -> Response:
    """One of a site's tabs for a week (this week at the site by default), rendered by the
    template of the tab's name; `arrows`: links to the weeks before and after."""
    runtime = runtime_of(request)
    model = runtime.caught_up()
    site = site_in_scope(staff, model, site_id)
    today = runtime.site_today(site.site_id)
    shown = _week(week, today)
    context = {
        **_frame(request, staff, model, site),
        "page": build(model, site, shown, today),
        "tab": tab,
    }
    if arrows:
        context.update(_around(shown))
    return page(request, f"{tab}.html", context)


@router.get("/clients/{client_id}")
async def client(request: Request, staff: SignedIn, client_id: str) -> Response:
    runtime = runtime_of(request)
    model = runtime.caught_up()
    view = client_in_scope(staff, model, client_id)
    home_site = next((s for s in sites_in_scope(staff, model) if s.site_id == view.site_id), None)
    shown = pages.client_page(model, view, runtime.client_today(client_id))
    context = {**_frame(request, staff, model, home_site), "page": shown, "tab": "client"}
    return page(request, "client.html", context)


# -------------------------------------------------------------------- roll call


@router.get("/occurrences/{group_id}/{day}")
async def roll_call_form(
    request: Request, staff: SignedIn, group_id: str, day: str, saved: int | None = None
) -> Response:
    return _roll_call(request, staff, group_id, _day(day), saved=saved)


@router.post("/occurrences/{group_id}/{day}")
async def roll_call(request: Request, staff: SignedIn, group_id: str, day: str) -> Response:
    form = await form_of(request)
    _checked(staff, form)
    runtime = runtime_of(request)
    model = runtime.caught_up()
    occurrence = occurrence_in_scope(staff, model, group_id, _day(day))
    shown = pages.roll_call_page(model, occurrence, runtime.site_today(occurrence.site_id))
    marks = marks_of(form, shown)
    if marks.problems:
        return _roll_call(request, staff, group_id, occurrence.date, marks.problems, form, 422)
    if marks.entries:
        # The JSON roll call itself: all or nothing, checked against the read model, each
        # record acknowledged by the broker before it returns.
        await attendance.roll_call(
            group_id, occurrence.date, list(marks.entries), runtime, staff.principal
        )
    return see_other(f"{request.url.path}?saved={len(marks.entries)}")


def _roll_call(
    request: Request,
    staff: Staff,
    group_id: str,
    day: date,
    problems: dict[str, str] | None = None,
    form: Form | None = None,
    status: int = 200,
    saved: int | None = None,
) -> Response:
    runtime = runtime_of(request)
    model = runtime.caught_up()
    occurrence = occurrence_in_scope(staff, model, group_id, day)
    shown = pages.roll_call_page(model, occurrence, runtime.site_today(occurrence.site_id))
    site = next((s for s in model.sites() if s.site_id == occurrence.site_id), None)
    context = {
        **_frame(request, staff, model, site),
        "page": shown,
        "tab": "week",
        "statuses": pages.STATUSES,
        "problems": problems or {},
        "posted": form or {},
        "saved": saved,
    }
    return page(request, "roll_call.html", context, status)


# ---------------------------------------------------------------------- make-up


@router.post("/clients/{client_id}/makeup")
async def makeup(request: Request, staff: SignedIn, client_id: str) -> Response:
    form = await form_of(request)
    _checked(staff, form)
    runtime = runtime_of(request)
    model = runtime.caught_up()
    client_in_scope(staff, model, client_id)
    try:
        body = board.MakeupIn(week=form.get("week", ""))
    except ValidationError:
        raise BoardRefusal(422, "No such week (weeks read like 2027-W09).") from None
    # The JSON API's make-up request itself: scope, status and week checked there.
    await board.makeup(client_id, body, runtime, staff.principal)
    if request.headers.get("x-board-fetch") == "1":
        state = pages.makeup_state(model, client_id, body.week)
        context = {"state": state, "client_id": client_id, "week": body.week}
        return page(request, "_makeup_state.html", context)
    return see_other(_local(form.get("back")))
