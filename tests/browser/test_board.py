"""The staff board in a real headless Chromium against the running services on the real broker
(the four services as processes, the network placed by the scheduler itself): a site key signs
in and sees the week's seat counts as the published schedules give them; a roll call puts a
client at risk, the compliance page shows her first and requests a make-up without reloading,
and the scheduler's answer lands on her page; a site key cannot open another site's pages.

The tests run in order on one system (the roll call of the second is the at-risk of its end)."""

import re
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import NEEDS_CHROMIUM
from tests.browser.scenario import Running, in_thread, makeup_answer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.e2e, NEEDS_CHROMIUM]


def sign_in(page: Page, running: Running, key: str) -> None:
    page.goto(running.board)
    expect(page).to_have_url(re.compile(r"/board/sign-in"))
    page.fill("#api_key", running.network.keys()[key])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/board/sites/.+/week"))


def reload_until(page: Page, holds: Callable[[], bool], timeout_s: float = 20) -> None:
    """Reload until `holds()` (the clinic folds the topics a moment after they are written)."""
    deadline = time.monotonic() + timeout_s
    while not holds():
        assert time.monotonic() < deadline, "the page never showed it"
        time.sleep(0.3)
        page.reload()


def meeting(page: Page, group_id: str, day: object) -> object:
    return page.locator(f'article.meeting[data-group="{group_id}"][data-date="{day}"]')


def test_a_site_key_signs_in_and_sees_the_weeks_seat_counts(page: Page, running: Running) -> None:
    net = running.network
    sign_in(page, running, "s1")
    expect(page).to_have_url(re.compile(rf"/board/sites/{net.site(1)}/week$"))
    days = [net.monday + timedelta(days=n) for n in range(7)]
    expected = {
        (group, day.isoformat()): running.seats(net.group(group), day)
        for group, weekdays in (("A", (0, 2, 3)), ("B", (1, 3, 4)), ("T", (1, 3)))
        for day in (days[n] for n in weekdays)
    }
    assert expected[("A", net.monday.isoformat())] == 3, "Ana, Bo and Cal (by availability)"

    def shown() -> dict[tuple[str, str], int]:
        found = {}
        for group, day in expected:
            card = page.locator(
                f'article.meeting[data-group="{net.group(group)}"][data-date="{day}"] .taken'
            )
            found[(group, day)] = int(card.inner_text()) if card.count() else -1
        return found

    reload_until(page, lambda: shown() == expected)
    telehealth = page.locator("h3.apart + article.meeting.telehealth")
    assert telehealth.count() == 2, "the telehealth group, apart, on its two days"
    assert page.locator(".meeting .capacity").first.inner_text() == "8"


def test_a_roll_call_puts_ana_at_risk_and_her_make_up_lands_on_her_page(
    page: Page, running: Running
) -> None:
    net = running.network
    ana = net.client("Ana")
    sign_in(page, running, "s1")
    page.locator(
        f'article.meeting[data-group="{net.group("A")}"][data-date="{net.monday}"] a.roll'
    ).click()
    expect(page.locator("h1")).to_contain_text("Roll call")
    page.check(f'input[name="status-{ana}"][value="absent"]')
    for name in ("Bo", "Cal"):
        page.check(f'input[name="status-{net.client(name)}"][value="present"]')
    page.click("button.primary")
    expect(page.locator(".saved")).to_have_text("Saved 3 records.")
    expect(page.locator(f'input[name="status-{ana}"][value="absent"]')).to_be_checked()

    page.click("nav.tabs >> text=Compliance")
    first = page.locator("table.compliance tbody tr").first
    expect(first).to_have_attribute("data-client", ana)
    expect(first).to_have_class(re.compile("at-risk"))
    expect(first.locator("td").nth(1)).to_have_text("0 h")
    url = page.url
    first.locator("text=Request make-up").click()
    expect(first.locator(".makeup-state")).to_contain_text("make-up requested")
    assert page.url == url, "requested in place, the page not reloaded"

    answer = in_thread(makeup_answer(running.system, ana))
    assert answer.type == "iop.client.makeup_scheduled", answer.data
    friday = net.monday + timedelta(days=4)
    assert (answer.data["group_id"], answer.data["date"]) == (net.group("B"), friday.isoformat())
    first.locator(f'a[href$="/clients/{ana}"]').click()
    expect(page.locator("h1")).to_contain_text("Ana")
    booked = page.locator("ul.makeups li.booked")
    reload_until(page, lambda: booked.count() == 1)
    expect(booked).to_contain_text(net.group("B"))
    expect(booked).to_contain_text(friday.strftime("%a %d %b"))
    expect(page.locator("table").nth(0)).to_contain_text("absent")
    assert "@example.org" not in page.content()


def test_a_site_key_cannot_open_another_sites_pages(page: Page, running: Running) -> None:
    net = running.network
    sign_in(page, running, "s1")
    guesses = (
        f"/sites/{net.site(2)}/week",
        f"/sites/{net.site(2)}/compliance",
        f"/clients/{net.client('Fay')}",
        f"/occurrences/{net.group('C')}/{net.monday}",
        "/sites/guessed-site/week",
    )
    for path in guesses:
        response = page.goto(running.board + path)
        assert response is not None and response.status == 403, path
        text = page.inner_text("main")
        for other in ("Fay", "Gus", net.client("Fay"), net.group("C"), "Hillcrest"):
            assert other not in text, (path, other)
    page.goto(running.board)
    assert page.locator("#site-switch").count() == 0, "one site: nothing to switch to"
