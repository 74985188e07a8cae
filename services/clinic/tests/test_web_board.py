"""The board through its HTTP front (Starlette's TestClient, no broker): sign-in exchanges a key
for a signed HttpOnly SameSite session cookie, every form needs its CSRF token, a site key sees
its own site only (403 elsewhere, with nothing of the other site on the page), and the pages show
what the read model holds: seats per meeting, the roll call recorded through the JSON API's own
roll call, at-risk clients first with a make-up request, the waitlist and free seats, a client's
page; never an email address or a phone number.

The read model is filled in-process from contract events and the publisher records what the
board publishes (the broker's side is covered by tests/browser)."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from iop_clinic.app import build_app
from iop_clinic.domain import testing as build
from iop_clinic.runtime import ClinicRuntime
from iop_contracts import (
    AttendanceRecorded,
    AttendanceStatus,
    ClientWaitlisted,
    CloudEvent,
    MakeupRequested,
    NotificationSent,
    week_of,
)

from .conftest import MONDAY, PROGRAMME_START, TODAY, Network, clinic_settings

WEEK = week_of(TODAY)
CLOSED = TODAY + timedelta(days=8)  # next week's Thursday: site 1 is closed


@dataclass
class Recorder:
    """Stands in for the broker: every event the board publishes, acknowledged."""

    events: list[CloudEvent] = field(default_factory=list)

    async def publish(self, event: CloudEvent) -> None:
        self.events.append(event)

    def payloads(self, kind: type) -> list[Any]:
        return [p for e in self.events if isinstance(p := e.payload(), kind)]


@dataclass
class Board:
    http: TestClient
    runtime: ClinicRuntime
    published: Recorder
    network: Network

    def sign_in(self, key: str) -> None:
        form = self.http.get("/board/sign-in")
        response = self.http.post(
            "/board/sign-in",
            data={"api_key": self.network.keys[key], "csrf": token(form.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text


def token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def seed(runtime: ClinicRuntime, net: Network) -> None:
    """Site 1: group 1 (Mon, Wed, Thu evenings) with ana, ben and cy, a telehealth group with
    eve, a closure next Thursday; site 2: group 2 with dee; one client waiting for site 1."""
    telehealth = build.group(f"tele-{net.suffix}", net.site(1), ("tue",), delivery="telehealth")
    closed = build.site(net.site(1), net.region, closed_dates=[CLOSED.isoformat()])
    waiting = build.enrollment(
        net.client("flo"), net.region, first_name="Flo", preferred_site_ids=[net.site(1)]
    )
    payloads = [
        *net.roster(),
        telehealth,
        *(p for name in ("ana", "ben", "cy") for p in net.placed(name)),
        *net.placed("dee", at=2),
        *net.placed("eve")[:1],
        build.scheduled(
            net.client("eve"), telehealth, PROGRAMME_START, facilitator_id=net.therapist,
            therapist_id=net.therapist, region_id=net.region,
        ),
        waiting,
        ClientWaitlisted(
            client_id=net.client("flo"), region_id=net.region, reasons=["groups_full"]
        ),
        NotificationSent(client_id=net.client("ana"), schedule_version=1, channel="email"),
        closed,
    ]  # fmt: skip
    feed = build.Feed(TODAY - timedelta(days=10))
    for event in feed.all(payloads):
        runtime.model.apply(event)


@pytest.fixture(scope="module")
def board(network: Network, pinned_today: date) -> Iterator[Board]:
    app = build_app(clinic_settings("127.0.0.1:9", network, session_ttl_s=3600))
    runtime: ClinicRuntime = app.state.clinic
    recorder = Recorder()
    runtime.publisher = recorder
    seed(runtime, network)
    runtime.model_ready.set()
    http = TestClient(app)  # not entered: no lifespan, no broker; the model is filled above
    yield Board(http, runtime, recorder, network)
    http.close()


@pytest.fixture
def signed_in(board: Board) -> Iterator[Board]:
    """The board signed in with site 1's key (each test starts signed out)."""
    board.http.cookies.clear()
    board.sign_in("s1")
    yield board
    board.http.cookies.clear()


# ------------------------------------------------------------------------ sign-in


def test_sign_in_sets_a_signed_httponly_samesite_cookie_with_an_expiry(board: Board) -> None:
    board.http.cookies.clear()
    form = board.http.get("/board/sign-in")
    assert form.status_code == 200
    response = board.http.post(
        "/board/sign-in",
        data={"api_key": board.network.keys["s1"], "csrf": token(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("iop_board=")]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/board", "max-age=3600"} <= attributes
    assert board.network.keys["s1"] not in cookie, "the key itself never travels back"
    assert board.http.get("/board/", follow_redirects=False).headers["location"] == (
        f"/board/sites/{board.network.site(1)}/week"
    )


def test_a_wrong_key_or_a_missing_csrf_token_signs_nobody_in(board: Board) -> None:
    board.http.cookies.clear()
    form = board.http.get("/board/sign-in")
    wrong = board.http.post(
        "/board/sign-in", data={"api_key": "not-a-key", "csrf": token(form.text)}
    )
    assert wrong.status_code == 401
    assert "iop_board=" not in wrong.headers.get("set-cookie", "")
    no_token = board.http.post("/board/sign-in", data={"api_key": board.network.keys["s1"]})
    assert no_token.status_code == 403
    assert "iop_board=" not in no_token.headers.get("set-cookie", "")


def test_pages_without_a_session_send_the_browser_to_sign_in(board: Board) -> None:
    board.http.cookies.clear()
    path = f"/board/sites/{board.network.site(1)}/week"
    response = board.http.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/board/sign-in?next=")
    board.http.cookies.set("iop_board", "forged.0000", path="/board")
    assert board.http.get(path, follow_redirects=False).status_code == 303


def test_sign_in_returns_to_the_page_asked_for_but_never_off_the_board(board: Board) -> None:
    board.http.cookies.clear()
    for asked, landed in (
        (f"/board/sites/{board.network.site(1)}/compliance", None),
        ("https://elsewhere.example/board/", "/board"),
        ("//elsewhere.example/", "/board"),
    ):
        form = board.http.get("/board/sign-in")
        data = {"api_key": board.network.keys["s1"], "csrf": token(form.text), "next": asked}
        response = board.http.post("/board/sign-in", data=data, follow_redirects=False)
        assert response.headers["location"] == (landed or asked)


def test_sign_out_needs_the_token_and_ends_the_session_even_replayed(signed_in: Board) -> None:
    http = signed_in.http
    page = http.get(f"/board/sites/{signed_in.network.site(1)}/week")
    cookie = http.cookies.get("iop_board")
    assert http.post("/board/sign-out", data={"csrf": "wrong"}).status_code == 403
    out = http.post("/board/sign-out", data={"csrf": token(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    http.cookies.set("iop_board", cookie or "", path="/board")
    again = http.get(f"/board/sites/{signed_in.network.site(1)}/week", follow_redirects=False)
    assert again.status_code == 303 and "/board/sign-in" in again.headers["location"]


# -------------------------------------------------------------------------- scope


def test_a_site_key_cannot_open_another_sites_pages_and_sees_nothing_of_it(
    signed_in: Board,
) -> None:
    net = signed_in.network
    for path in (
        f"/board/sites/{net.site(2)}/week",
        f"/board/sites/{net.site(2)}/compliance",
        f"/board/sites/{net.site(2)}/capacity",
        f"/board/clients/{net.client('dee')}",
        f"/board/occurrences/{net.group(2)}/{MONDAY.isoformat()}",
        "/board/sites/no-such-site/week",
        f"/board/clients/{net.client('nobody')}",
    ):
        response = signed_in.http.get(path)
        assert response.status_code == 403, path
        for secret in (net.client("dee"), "Dee", net.group(2)):
            assert secret not in response.text.replace(path, ""), (path, secret)
    week = signed_in.http.get(f"/board/sites/{net.site(1)}/week").text
    assert net.site(2) not in week, "no switcher to a site outside the key"


def test_a_site_key_cannot_write_another_sites_roll_call_or_make_up(signed_in: Board) -> None:
    net = signed_in.network
    csrf = token(signed_in.http.get(f"/board/sites/{net.site(1)}/week").text)
    before = len(signed_in.published.events)
    roll = signed_in.http.post(
        f"/board/occurrences/{net.group(2)}/{MONDAY.isoformat()}",
        data={"csrf": csrf, f"status-{net.client('dee')}": "absent"},
    )
    makeup = signed_in.http.post(
        f"/board/clients/{net.client('dee')}/makeup", data={"csrf": csrf, "week": WEEK}
    )
    assert roll.status_code == makeup.status_code == 403
    assert len(signed_in.published.events) == before, "nothing published"


def test_a_network_key_switches_sites_and_is_told_404_for_the_unknown(board: Board) -> None:
    board.http.cookies.clear()
    board.sign_in("network")
    net = board.network
    week = board.http.get(f"/board/sites/{net.site(1)}/week").text
    assert f'value="{net.site(2)}"' in week, "the switcher offers every site"
    switched = board.http.get(
        "/board/switch", params={"site": net.site(2), "to": "compliance"}, follow_redirects=False
    )
    assert switched.headers["location"] == f"/board/sites/{net.site(2)}/compliance"
    assert net.client("dee") in board.http.get(switched.headers["location"]).text
    assert board.http.get("/board/sites/no-such-site/week").status_code == 404
    assert board.http.get(f"/board/clients/{net.client('nobody')}").status_code == 404
    board.http.cookies.clear()


# -------------------------------------------------------------------------- pages


def meeting(html: str, group_id: str, day: date) -> str:
    found = re.search(
        rf'<article class="meeting[^"]*" data-group="{group_id}" data-date="{day}">(.*?)</article>',
        html,
        re.S,
    )
    assert found, (group_id, day)
    return found.group(1)


def test_the_week_shows_seats_facilitators_cancellations_and_telehealth_apart(
    signed_in: Board,
) -> None:
    net = signed_in.network
    html = signed_in.http.get(f"/board/sites/{net.site(1)}/week?week={WEEK}").text
    monday = meeting(html, net.group(1), MONDAY)
    seated = ("ana", "ben", "cy")  # group 1's members (seed); eve meets by telehealth
    taken = rf'class="taken">{len(seated)}</span>/<span class="capacity">12<'
    assert re.search(taken, monday)
    assert net.therapist in monday
    next_week = signed_in.http.get(f"/board/sites/{net.site(1)}/week?week={week_of(CLOSED)}")
    assert "Cancelled: site closed" in meeting(next_week.text, net.group(1), CLOSED)
    telehealth = html.split('class="apart">Telehealth</h3>', 1)
    assert len(telehealth) == 2 and f"tele-{net.suffix}" in telehealth[1]
    assert f"tele-{net.suffix}" not in telehealth[0], "telehealth groups are listed apart"


def test_a_roll_call_is_recorded_through_the_json_roll_call_and_corrected_on_the_same_page(
    signed_in: Board,
) -> None:
    net, published = signed_in.network, signed_in.published
    path = f"/board/occurrences/{net.group(1)}/{MONDAY.isoformat()}"
    csrf = token(signed_in.http.get(path).text)
    before = len(published.payloads(AttendanceRecorded))
    marks = {
        "csrf": csrf,
        f"status-{net.client('ana')}": "absent",
        f"status-{net.client('ben')}": "present",
        f"status-{net.client('cy')}": "late",
        f"minutes-{net.client('cy')}": "120",
    }
    saved = signed_in.http.post(path, data=marks, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=3")
    records = {r.client_id: r for r in published.payloads(AttendanceRecorded)[before:]}
    assert {c: (r.status, r.minutes_attended) for c, r in records.items()} == {
        net.client("ana"): (AttendanceStatus.ABSENT, 0),
        net.client("ben"): (AttendanceStatus.PRESENT, 180),
        net.client("cy"): (AttendanceStatus.LATE, 120),
    }
    assert {r.recorded_by for r in records.values()} == {"s1-desk"}
    shown = signed_in.http.get(path).text
    assert re.search(rf'name="status-{net.client("ana")}" value="absent" checked', shown)

    correction = {**marks, f"status-{net.client('ana')}": "excused"}
    signed_in.http.post(path, data=correction)
    [corrected] = published.payloads(AttendanceRecorded)[before + 3 :]
    assert (corrected.client_id, corrected.status) == (net.client("ana"), AttendanceStatus.EXCUSED)
    signed_in.http.post(path, data={**marks, f"status-{net.client('ana')}": "absent"})


def test_a_roll_call_with_a_mark_at_fault_or_no_token_stores_nothing(signed_in: Board) -> None:
    net, published = signed_in.network, signed_in.published
    path = f"/board/occurrences/{net.group(1)}/{TODAY.isoformat()}"
    csrf = token(signed_in.http.get(path).text)
    before = len(published.events)
    late_without_minutes = {"csrf": csrf, f"status-{net.client('ben')}": "late"}
    refused = signed_in.http.post(path, data=late_without_minutes)
    assert refused.status_code == 422 and "minutes attended" in refused.text
    unknown_status = {"csrf": csrf, f"status-{net.client('ben')}": "asleep"}
    assert signed_in.http.post(path, data=unknown_status).status_code == 422
    no_token = {f"status-{net.client('ben')}": "present"}
    assert signed_in.http.post(path, data=no_token).status_code == 403
    future = f"/board/occurrences/{net.group(1)}/{(MONDAY + timedelta(days=7)).isoformat()}"
    ahead = signed_in.http.post(future, data={**no_token, "csrf": csrf})
    assert ahead.status_code == 422
    assert len(published.events) == before


def test_a_malformed_address_is_a_page_naming_the_field_not_json(signed_in: Board) -> None:
    net = signed_in.network
    path = f"/board/occurrences/{net.group(1)}/{TODAY.isoformat()}?saved=not-a-number"
    refused = signed_in.http.get(path)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert "saved" in refused.text and "not-a-number" not in refused.text
    no_site = signed_in.http.get("/board/switch")
    assert no_site.status_code == 422 and "site" in no_site.text


def test_compliance_lists_the_at_risk_first_and_requests_a_make_up(signed_in: Board) -> None:
    net, published = signed_in.network, signed_in.published
    path = f"/board/occurrences/{net.group(1)}/{MONDAY.isoformat()}"
    marks = {f"status-{net.client(n)}": "present" for n in ("ben", "cy")}
    marks[f"status-{net.client('ana')}"] = "absent"
    signed_in.http.post(path, data={**marks, "csrf": token(signed_in.http.get(path).text)})
    page = signed_in.http.get(f"/board/sites/{net.site(1)}/compliance?week={WEEK}").text
    rows = re.findall(r'<tr class="([a-z-]+)" data-client="([^"]+)">', page)
    assert rows[0] == ("at-risk", net.client("ana"))
    assert ("at-risk", net.client("ben")) not in rows
    # ana's week: three 3-hour evenings and a 1-hour individual session, Monday's missed.
    ana = page.split(f'data-client="{net.client("ana")}">', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>([\d.]+) h</td>", ana)
    assert cells == ["0", "10", "9"], "attended, scheduled, minimum"

    response = signed_in.http.post(
        f"/board/clients/{net.client('ana')}/makeup",
        data={"csrf": token(page), "week": WEEK},
        headers={"X-Board-Fetch": "1"},
    )
    assert response.status_code == 200 and "make-up requested" in response.text
    [request] = published.payloads(MakeupRequested)[-1:]
    assert (request.client_id, request.week) == (net.client("ana"), WEEK)
    again = signed_in.http.get(f"/board/sites/{net.site(1)}/compliance?week={WEEK}").text
    assert "make-up requested" in again


def test_waitlist_and_capacity_show_reasons_days_waiting_and_free_seats(signed_in: Board) -> None:
    net = signed_in.network
    page = signed_in.http.get(f"/board/sites/{net.site(1)}/capacity").text
    waiting = re.search(
        rf"{net.client('flo')}</small></td><td>(.*?)</td><td>.*?</td><td>(\d+)</td>", page
    )
    assert waiting and waiting.groups() == ("groups full", "10")
    group_row = re.search(rf"<tr><td>{net.group(1)}</td><td>12</td>(.*?)</tr>", page, re.S)
    assert group_row, "free seats per group ahead"
    free = re.findall(r"<td[^>]*>([^<]*)</td>", group_row.group(1))
    members = 3
    assert free[0] == str(12 - members), "this week's fewest free seats"
    assert len(free) == len({week_of(TODAY + timedelta(days=n)) for n in range(29)})


def test_the_client_page_shows_schedule_attendance_and_notifications_never_contact_details(
    signed_in: Board,
) -> None:
    net = signed_in.network
    page = signed_in.http.get(f"/board/clients/{net.client('ana')}").text
    assert "Ana" in page and net.group(1) in page
    assert "sent" in page and "email" in page
    for path in (
        f"/board/clients/{net.client('ana')}",
        f"/board/sites/{net.site(1)}/week",
        f"/board/sites/{net.site(1)}/compliance",
        f"/board/sites/{net.site(1)}/capacity",
    ):
        html = signed_in.http.get(path).text
        assert "@example.org" not in html and "+1617" not in html, path


def test_pages_are_never_cached_framed_or_scripted_inline(signed_in: Board) -> None:
    response = signed_in.http.get(f"/board/sites/{signed_in.network.site(1)}/week")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "<script>" not in response.text
    assert signed_in.http.get("/board/static/board.css").status_code == 200
