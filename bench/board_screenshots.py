"""Screenshots of every board page, from the running system, into bench/results/board/.

Starts what the browser tests start (tests/browser/scenario.py: broker, SMTP sink and the four
services as processes, a small network placed by the scheduler, today pinned to a Monday),
drives Debian's chromium through Playwright as site 1's front desk would (a roll call with an
absence, a make-up request, the scheduler's answer), and writes one PNG per page: sign-in, week
(laptop and tablet widths), roll call, compliance, waitlist and capacity, client. Prints how
long each page took to load.

    .venv/bin/python bench/board_screenshots.py [--out bench/results/board]

Needs `chromium` on the PATH (apt-get install chromium); never `playwright install`.
"""

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scenario lives with the browser tests

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, launch  # noqa: E402
from tests.browser.scenario import (  # noqa: E402
    Network,
    Running,
    in_thread,
    makeup_answer,
    monday_from,
    running_network,
)

LAPTOP = {"width": 1366, "height": 900}
TABLET = {"width": 820, "height": 1180}


def shoot(page: Page, out: Path, name: str, url: str | None = None) -> None:
    started = time.perf_counter()
    if url is not None:
        page.goto(url)
    page.wait_for_load_state("networkidle")
    loaded = time.perf_counter() - started
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"{name:<12} {loaded * 1000:7.0f} ms  {out / (name + '.png')}")


def walk(page: Page, running: Running, out: Path) -> None:
    net = running.network
    board = running.board
    shoot(page, out, "sign-in", board)
    page.fill("#api_key", net.keys()["s1"])
    page.click("button[type=submit]")
    page.wait_for_url("**/week")
    week_url = page.url
    roll_url = f"{board}/occurrences/{net.group('A')}/{net.monday}"
    page.goto(roll_url)
    page.check(f'input[name="status-{net.client("Ana")}"][value="absent"]')
    page.check(f'input[name="status-{net.client("Bo")}"][value="present"]')
    page.check(f'input[name="status-{net.client("Cal")}"][value="late"]')
    page.fill(f'input[name="minutes-{net.client("Cal")}"]', "150")
    page.click("button.primary")
    page.wait_for_selector(".saved")
    shoot(page, out, "roll-call")
    page.goto(f"{board}/sites/{net.site(1)}/compliance")
    page.locator("text=Request make-up").first.click()
    page.wait_for_selector("text=make-up requested")
    in_thread(makeup_answer(running.system, net.client("Ana")))
    time.sleep(1)  # the clinic folds the answer a moment after it is written
    shoot(page, out, "compliance", f"{board}/sites/{net.site(1)}/compliance")
    shoot(page, out, "week", week_url)
    shoot(page, out, "capacity", f"{board}/sites/{net.site(1)}/capacity")
    shoot(page, out, "client", f"{board}/clients/{net.client('Ana')}")
    page.set_viewport_size(TABLET)
    shoot(page, out, "week-tablet", week_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "board")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("no `chromium` on the PATH: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    network = Network(prefix="demo", monday=monday_from(date.today()))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as state, running_network(network, Path(state)) as running:
        print(f"system up, network placed in {time.perf_counter() - started:.1f} s")
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_context(viewport=LAPTOP).new_page()
            walk(page, running, args.out)
            browser.close()
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
