"""The contract's date window: every date an event carries lies near today.

Dates become arithmetic downstream (a start plus 16 weeks, the end of a local day in UTC), and a
date such as 9999-12-30 overflowed the scheduler and the notifier on every retry. So the contract
admits only dates in a window around today, stated here once, and every consumer refuses the rest
as a ContractError (a dead letter, or 422 at intake's HTTP API).

The window runs from `YEARS_BACK` years before today to `YEARS_AHEAD` years after it. The past
reaches far because the roster is a compacted table: a group's `open_from` and an entity's last
`site.upserted` may be years old and must still decode when a service rereads the table. Dates
the scheduler derives (a schedule's `start_date` and `end_date`) may reach `SCHEDULE_REACH`
further: a programme of at most 16 weeks that starts in the first meeting week after the latest
admissible start, with weeks to spare for clocks that disagree.

Today is the UTC date of the service's clock, or the day pinned by `IOP_TODAY=YYYY-MM-DD` (tests
and demos; production never sets it). Tests build their dates from `date_window()`.
"""

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TODAY_ENV = "IOP_TODAY"
YEARS_BACK = 10
YEARS_AHEAD = 2
SCHEDULE_REACH = timedelta(weeks=26)


@dataclass(frozen=True, slots=True)
class DateWindow:
    """The dates the contract admits, both ends included."""

    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def __str__(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


def clock_today() -> date:
    """The UTC date of this machine's clock, whatever IOP_TODAY says."""
    return datetime.now(UTC).date()


def today_in(timezone: str | None) -> date:
    """Today in an IANA time zone (a region's), or the pinned IOP_TODAY when it is set."""
    if os.environ.get(TODAY_ENV, "").strip() or not timezone:
        return contract_today()
    return datetime.now(ZoneInfo(timezone)).date()


def contract_today() -> date:
    """Today for the contract: IOP_TODAY when it is set, else the clock's UTC date.

    A malformed IOP_TODAY is a setup error, not a bad record: it raises RuntimeError, which no
    validator turns into a field error, so the service fails loudly instead of dead-lettering
    every record it reads."""
    pinned = os.environ.get(TODAY_ENV, "").strip()
    if not pinned:
        return clock_today()
    try:
        return date.fromisoformat(pinned)
    except ValueError:
        raise RuntimeError(f"{TODAY_ENV} must be a date YYYY-MM-DD") from None


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def date_window(today: date | None = None, *, derived: bool = False) -> DateWindow:
    """The window around `today` (default: `contract_today()`); `derived` widens its end by
    `SCHEDULE_REACH` for the dates the scheduler computes."""
    today = contract_today() if today is None else today
    last = _years_after(today, YEARS_AHEAD)
    return DateWindow(
        first=_years_after(today, -YEARS_BACK),
        last=last + SCHEDULE_REACH if derived else last,
    )


def check_in_window(value: date, *, derived: bool = False, stamped: bool = False) -> date:
    """The contract's one date check: `value` when it lies in the window, else a ValueError that
    states the window (pydantic names the field; the value itself is not repeated).

    `stamped` is for the envelope's `time`, which the producer's clock sets: while IOP_TODAY
    pins another day, the window around the clock's own today admits it as well."""
    window = date_window(derived=derived)
    if value in window:
        return value
    if stamped and value in date_window(clock_today(), derived=derived):
        return value
    reach = f"{YEARS_AHEAD} years" + (f" and {SCHEDULE_REACH.days // 7} weeks" if derived else "")
    raise ValueError(
        f"must lie in the contract's date window, {window} "
        f"({YEARS_BACK} years before today to {reach} after it)"
    )
