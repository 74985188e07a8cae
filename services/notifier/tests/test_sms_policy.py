from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iop_notifier.domain.sms_policy import SmsPolicy
from iop_notifier.runtime import sms_policy_of
from iop_notifier.settings import NotifierSettings
from pydantic import ValidationError

NY = ZoneInfo("America/New_York")
POLICY = SmsPolicy(quiet_end=time(8), quiet_start=time(21), max_per_day=1, max_per_week=3)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


def test_2230_is_deferred_to_0800_next_morning() -> None:
    assert POLICY.next_allowed(local(2026, 12, 1, 22, 30), "America/New_York", []) == local(
        2026, 12, 2, 8, 0
    )


def test_early_morning_waits_until_0800_same_day() -> None:
    assert POLICY.next_allowed(local(2026, 12, 1, 6, 15), "America/New_York", []) == local(
        2026, 12, 1, 8, 0
    )


def test_daytime_goes_now() -> None:
    now = local(2026, 12, 1, 12, 0)
    assert POLICY.next_allowed(now, "America/New_York", []) == now


def test_quiet_hours_follow_the_clients_zone_not_utc() -> None:
    # 02:30 UTC is 18:30 in Los Angeles: allowed there, though it is night in UTC.
    now = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    assert POLICY.next_allowed(now, "America/Los_Angeles", []) == now


def test_deferral_across_dst_end_lands_on_local_0800() -> None:
    # 2026-10-31 22:30 EDT -> 2026-11-01 08:00 EST (clocks went back at 02:00).
    allowed = POLICY.next_allowed(local(2026, 10, 31, 22, 30), "America/New_York", [])
    assert allowed.astimezone(NY).time() == time(8, 0)
    assert allowed == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)


def test_one_a_day_moves_a_second_message_to_tomorrow_morning() -> None:
    sent = [local(2026, 12, 1, 9, 0)]
    assert POLICY.next_allowed(local(2026, 12, 1, 10, 0), "America/New_York", sent) == local(
        2026, 12, 2, 8, 0
    )


def test_three_a_week_waits_for_the_oldest_to_age_out() -> None:
    sent = [local(2026, 12, 1, 9, 0), local(2026, 12, 2, 9, 0), local(2026, 12, 3, 9, 0)]
    allowed = POLICY.next_allowed(local(2026, 12, 4, 10, 0), "America/New_York", sent)
    assert allowed == local(2026, 12, 8, 9, 0)


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    gaps=st.lists(st.integers(min_value=0, max_value=14 * 24), max_size=5),
)
def test_next_allowed_respects_every_rule(start: datetime, gaps: list[int]) -> None:
    sent = sorted(start - timedelta(hours=g) for g in gaps)
    # Only histories that themselves obey the limits are realistic.
    sent = [
        s
        for i, s in enumerate(sent)
        if all(s.astimezone(NY).date() != p.astimezone(NY).date() for p in sent[:i])
    ]
    allowed = POLICY.next_allowed(start, "America/New_York", sent)
    assert allowed >= start
    assert time(8) <= allowed.astimezone(NY).time() < time(21)
    assert all(s.astimezone(NY).date() != allowed.astimezone(NY).date() for s in sent)
    assert len([s for s in sent if allowed - timedelta(days=7) < s <= allowed]) < 3


def test_quiet_start_setting_is_when_quiet_hours_begin(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFIER_SMS_QUIET_START=22:00 used to feed the end of quiet hours: no SMS ever went."""
    monkeypatch.setenv("NOTIFIER_SMS_QUIET_START", "22:00")
    monkeypatch.setenv("NOTIFIER_SMS_QUIET_END", "07:30")
    policy = sms_policy_of(NotifierSettings())
    evening = local(2026, 12, 1, 21, 45)
    assert policy.next_allowed(evening, "America/New_York", []) == evening
    assert policy.next_allowed(local(2026, 12, 1, 22, 0), "America/New_York", []) == local(
        2026, 12, 2, 7, 30
    )
    early = local(2026, 12, 2, 7, 29)
    assert policy.next_allowed(early, "America/New_York", []) == local(2026, 12, 2, 7, 30)


def test_default_quiet_hours_are_nine_pm_to_eight_am() -> None:
    policy = sms_policy_of(NotifierSettings())
    assert (policy.quiet_start, policy.quiet_end) == (time(21), time(8))


@pytest.mark.parametrize(
    ("start", "end"), [("08:00", "21:00"), ("21:00", "21:00"), ("25:00", "08:00"), ("9pm", "08:00")]
)
def test_quiet_hours_that_cannot_be_meant_are_refused(start: str, end: str) -> None:
    with pytest.raises(ValidationError, match=r"sms_quiet|QUIET"):
        NotifierSettings(sms_quiet_start=start, sms_quiet_end=end)
