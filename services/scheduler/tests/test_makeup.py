"""Rule 12: one make-up session placed for a scheduled client in a requested ISO week.

Per condition a case where it holds and a make-up is granted, and one where it does not and the
answer is unavailable with the reasons that are true; every answer goes through both rule
checkers (validate_output and the clean-room one), which also judge the truth of the reasons.

The network (today is conftest's TODAY, a Monday; dates are built from it):
- c1 (the requester) is in g1 at s1 (mon/wed/thu 18-21, facilitator t1) from Wednesday, with
  an individual session on Saturday morning; they list s1 as their only site.
- g2 at s1 meets tue and thu 17:00-21:00 (facilitator t2), with c2 in it from Tuesday, and two
  seats. Next week its Tuesday occurrence fits c1; its Thursday one overlaps c1's own group.
"""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from iop_contracts import week_of
from iop_scheduler.domain.makeups import (
    MakeupAnswer,
    MakeupRequest,
    checked_output,
    place_makeup,
)
from iop_scheduler.errors import UnusableEvent
from iop_scheduler.solver import validate_output

from tests.independent.checker import check

Doc = dict[str, Any]

G2_SESSIONS = [{"day": d, "start": "17:00", "end": "21:00"} for d in ("tue", "thu")]
SATURDAY = {"therapist_id": "t1", "day": "sat", "start": "09:00", "end": "10:00"}


def next_week(today: date) -> tuple[str, date, date]:
    """Next week's ISO week, its Tuesday and its Thursday."""
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
    return week_of(monday), monday + timedelta(days=1), monday + timedelta(days=3)


def network(iop: SimpleNamespace, **change: Any) -> Doc:
    """The module's network; ``change`` replaces a part: ``g2`` (keywords for group g2), ``c1``
    and ``c2`` (keywords for the clients), ``c1_individual``, ``c2_start`` (a date)."""
    today: date = iop.TODAY
    c1 = iop.client("c1", **change.get("c1", {}))
    c2 = iop.client("c2", **change.get("c2", {}))
    g1 = iop.group("g1", "s1")
    g2 = iop.group(
        **{"group_id": "g2", "capacity": 2, "sessions": G2_SESSIONS, **change.get("g2", {})}
    )
    wednesday, tuesday = today + timedelta(days=2), today + timedelta(days=1)
    individual = change.get("c1_individual", SATURDAY)
    c2_individual = {"therapist_id": "t2", "day": "mon", "start": "17:00", "end": "18:00"}
    snap: Doc = iop.snapshot(
        sites=[iop.site("s1"), iop.site("s2")],
        groups=[g1, g2],
        therapists=[iop.therapist(t, site_ids=["s1", "s2"]) for t in ("t1", "t2", "t3")],
        enrollments=[c1, c2],
    )
    snap["schedules"] = [
        iop.kept(c1, g1, "t1", individual, wednesday),
        iop.kept(c2, g2, "t2", c2_individual, change.get("c2_start", tuesday)),
    ]
    snap["makeups"] = []
    snap["substitutions"] = []
    return snap


def ask(snap: Doc, week: str, hours: float = 3.0, client_id: str = "c1") -> MakeupAnswer:
    """Place the make-up, then assert both checkers accept the answer."""
    answer = place_makeup(snap, MakeupRequest(client_id, "r1", week, hours))
    out = checked_output(snap, answer)
    assert [str(f) for f in validate_output(snap, out)] == []
    assert check(snap, out) == []
    return answer


def granted(answer: MakeupAnswer) -> Doc:
    assert answer.makeup is not None, answer.reasons
    return answer.makeup.payload()


# ----- the feasible base ------------------------------------------------------------------------


def test_the_first_free_occurrence_of_another_group_is_granted(iop: SimpleNamespace) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    made = granted(ask(network(iop), week))
    assert made == {
        "client_id": "c1",
        "region_id": "r1",
        "week": week,
        "date": tuesday.isoformat(),
        "group_id": "g2",
        "site_id": "s1",
        "delivery": "in_person",
        "start": "17:00",
        "end": "21:00",
        "facilitator_id": "t2",
        "timezone": "America/New_York",
    }


# ----- rule 1: track, population, language, gender ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        pytest.param({"gender": "men"}, ["no_group_in_availability"], id="men-for-a-woman"),
        pytest.param(
            {"language": "es"}, ["no_language_match", "no_group_in_availability"], id="spanish"
        ),
        pytest.param({"population": "adolescent"}, ["no_group_in_availability"], id="adolescents"),
    ],
)
def test_a_group_that_does_not_fit_the_client_is_never_a_make_up(
    iop: SimpleNamespace, change: Doc, reasons: list[str]
) -> None:
    week, _, _ = next_week(iop.TODAY)
    member = {"gender": "man"} if "gender" in change else dict(change)
    answer = ask(network(iop, g2=change, c2=member), week)
    assert answer.makeup is None
    assert list(answer.reasons) == reasons


def test_a_gender_specific_group_of_the_clients_gender_fits(iop: SimpleNamespace) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    made = granted(ask(network(iop, g2={"gender": "women"}), week))
    assert (made["group_id"], made["date"]) == ("g2", tuesday.isoformat())


def test_never_the_clients_own_group(iop: SimpleNamespace) -> None:
    """g1 has seats and meets in c1's availability every day of the week, but it is theirs."""
    week, _, _ = next_week(iop.TODAY)
    snap = network(iop, g2={"track": "substance_use"}, c2={"track": "substance_use"})
    answer = ask(snap, week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]


# ----- rule 2: a site the client can reach ------------------------------------------------------


def test_a_group_at_a_site_the_client_did_not_choose_is_not_accessible(
    iop: SimpleNamespace,
) -> None:
    week, _, _ = next_week(iop.TODAY)
    moved = {"site_id": "s2"}
    answer = ask(network(iop, g2=moved, c2={"preferred_site_ids": ["s2"]}), week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["site_not_accessible", "no_group_in_availability"]
    reach = {"preferred_site_ids": ["s1", "s2"]}
    made = granted(ask(network(iop, g2=moved, c1=reach, c2={"preferred_site_ids": ["s2"]}), week))
    assert made["site_id"] == "s2"


@pytest.mark.parametrize("accepts", [True, False])
def test_a_telehealth_group_needs_a_client_who_accepts_telehealth(
    iop: SimpleNamespace, accepts: bool
) -> None:
    week, _, _ = next_week(iop.TODAY)
    tele = {"delivery": "telehealth", "site_id": "s2"}
    member = {"accepts_telehealth": True, "preferred_site_ids": ["s2"]}
    snap = network(iop, g2=tele, c1={"accepts_telehealth": accepts}, c2=member)
    answer = ask(snap, week)
    if accepts:
        assert granted(answer)["delivery"] == "telehealth"
    else:
        assert answer.makeup is None
        assert list(answer.reasons) == ["site_not_accessible", "no_group_in_availability"]


# ----- rule 3: availability and the client's own sessions ---------------------------------------


def test_an_occurrence_outside_the_clients_availability_is_not_offered(
    iop: SimpleNamespace,
) -> None:
    week, _, _ = next_week(iop.TODAY)
    no_tuesday = [{"day": d, "start": "17:00", "end": "21:30"} for d in ("mon", "wed", "thu")] + [
        {"day": "sat", "start": "09:00", "end": "13:00"}
    ]
    answer = ask(network(iop, c1={"availability": no_tuesday}), week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]


def test_an_occurrence_overlapping_the_clients_own_sessions_is_not_offered(
    iop: SimpleNamespace,
) -> None:
    """Tuesday overlaps c1's individual session, Thursday their own group."""
    week, _, _ = next_week(iop.TODAY)
    tuesday_individual = {"therapist_id": "t1", "day": "tue", "start": "17:00", "end": "18:00"}
    answer = ask(network(iop, c1_individual=tuesday_individual), week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]


def test_an_occurrence_overlapping_a_make_up_already_granted_is_not_offered(
    iop: SimpleNamespace,
) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    snap = network(iop)
    first = granted(ask(snap, week))
    snap["makeups"] = [first]
    answer = ask(snap, week)
    assert answer.makeup is None, "the only other occurrence that week is the one granted"
    assert list(answer.reasons) == ["no_group_in_availability"]
    assert first["date"] == tuesday.isoformat()


# ----- the occurrence is held that date (rule 11) -----------------------------------------------


def test_a_group_nobody_attends_that_date_does_not_meet(iop: SimpleNamespace) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    later = tuesday + timedelta(days=7)  # c2 starts the Tuesday after
    answer = ask(network(iop, c2_start=later, c2={"requested_start": later.isoformat()}), week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]


def test_no_make_up_on_a_day_the_site_is_closed(iop: SimpleNamespace) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    snap = network(iop)
    snap["sites"][0]["closed_dates"] = [tuesday.isoformat()]
    answer = ask(snap, week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]


def test_an_absent_facilitator_without_cover_cancels_and_a_substitute_runs_it(
    iop: SimpleNamespace,
) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    snap = network(iop)
    leave = {"start_date": tuesday.isoformat(), "end_date": tuesday.isoformat()}
    snap["therapists"][1]["absences"] = [leave]
    answer = ask(snap, week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]
    cover = {"group_id": "g2", "region_id": "r1", "date": tuesday.isoformat()}
    snap["substitutions"] = [{**cover, "facilitator_id": "t3", "replaces": "t2"}]
    made = granted(ask(snap, week))
    assert (made["date"], made["facilitator_id"]) == (tuesday.isoformat(), "t3")


# ----- rule 4: a free seat on that date ---------------------------------------------------------


def test_a_full_occurrence_is_groups_full(iop: SimpleNamespace) -> None:
    week, _, _ = next_week(iop.TODAY)
    answer = ask(network(iop, g2={"capacity": 1}), week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["groups_full"]


def test_a_make_up_granted_that_date_takes_a_seat_and_one_on_another_date_does_not(
    iop: SimpleNamespace,
) -> None:
    week, tuesday, _ = next_week(iop.TODAY)
    snap = network(iop)
    other = {**granted(ask(network(iop), week)), "client_id": "c9"}
    snap["makeups"] = [other]  # c2 and c9's make-up fill g2's two seats that Tuesday
    answer = ask(snap, week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["groups_full"]
    a_week_later = tuesday + timedelta(days=7)
    snap["makeups"] = [{**other, "date": a_week_later.isoformat(), "week": week_of(a_week_later)}]
    assert granted(ask(snap, week))["date"] == tuesday.isoformat()


# ----- dates: from today, within the programme ---------------------------------------------------


def test_only_dates_from_today_within_the_programme_count(iop: SimpleNamespace) -> None:
    """This week's Tuesday is before c1 starts (Wednesday) and its Thursday overlaps their own
    group: nothing fits, although Tuesday would otherwise."""
    this_week = week_of(iop.TODAY)
    answer = ask(network(iop), this_week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["no_group_in_availability"]


@pytest.mark.parametrize("weeks", [-1, 9], ids=["past-week", "after-the-programme"])
def test_a_week_with_no_date_left_in_the_programme_is_refused(
    iop: SimpleNamespace, weeks: int
) -> None:
    week = week_of(iop.TODAY + timedelta(weeks=weeks))
    with pytest.raises(UnusableEvent, match=r"data\.week"):
        place_makeup(network(iop), MakeupRequest("c1", "r1", week, 3.0))


def test_a_client_who_is_not_scheduled_is_refused(iop: SimpleNamespace) -> None:
    snap = network(iop)
    snap["schedules"] = snap["schedules"][1:]
    week, _, _ = next_week(iop.TODAY)
    with pytest.raises(UnusableEvent, match="not scheduled"):
        place_makeup(snap, MakeupRequest("c1", "r1", week, 3.0))


# ----- the choice among fitting occurrences -----------------------------------------------------


def with_g3(
    iop: SimpleNamespace,
    snap: Doc,
    blocks: list[Doc],
    site: str,
    start: date,
    group_id: str = "g3",
    **group: Any,
) -> Doc:
    """A third group (g3 unless named otherwise) at ``site``, facilitated by t3, with a member
    c3 from ``start`` whose individual session is on Thursday 17:00-18:00."""
    g3 = iop.group(group_id, site, sessions=blocks, **group)
    c3 = iop.client("c3", preferred_site_ids=[site], accepts_telehealth=True)
    individual = {"therapist_id": "t3", "day": "thu", "start": "17:00", "end": "18:00"}
    snap["groups"].append(g3)
    snap["enrollments"].append(c3)
    snap["schedules"].append(iop.kept(c3, g3, "t3", individual, start))
    return snap


def blocks(*items: tuple[str, str, str]) -> list[Doc]:
    return [{"day": d, "start": s, "end": e} for d, s, e in items]


def test_an_occurrence_long_enough_for_the_hours_asked_wins_over_an_earlier_one(
    iop: SimpleNamespace,
) -> None:
    """g3 meets Monday 17-18, an hour c1 has free before their own group; g2 meets Tuesday
    17-21. Three hours asked: Tuesday's four win over Monday's one. One hour asked: both are
    long enough, and Monday, the earliest, wins."""
    week, tuesday, _ = next_week(iop.TODAY)
    g3 = blocks(("mon", "17:00", "18:00"), ("wed", "17:00", "21:00"), ("sat", "09:00", "13:00"))
    snap = with_g3(iop, network(iop), g3, "s1", iop.TODAY + timedelta(days=2))
    assert granted(ask(snap, week, hours=3.0))["date"] == tuesday.isoformat()
    monday = tuesday - timedelta(days=1)
    assert granted(ask(snap, week, hours=1.0))["date"] == monday.isoformat()
    assert granted(ask(snap, week, hours=1.0))["group_id"] == "g3"


def test_first_choice_site_breaks_a_tie_on_the_date(iop: SimpleNamespace) -> None:
    """g2 (at s1) and g3 (at s2) meet at the same Tuesday hours: the client's first site wins."""
    week, _, _ = next_week(iop.TODAY)
    g3 = blocks(("tue", "17:00", "21:00"), ("sat", "09:00", "13:00"))
    c1 = {"preferred_site_ids": ["s2", "s1"]}
    snap = with_g3(iop, network(iop, c1=c1), g3, "s2", iop.TODAY + timedelta(days=1))
    assert granted(ask(snap, week))["group_id"] == "g3"
    snap["enrollments"][0]["preferred_site_ids"] = ["s1", "s2"]
    assert granted(ask(snap, week))["group_id"] == "g2"


def test_in_person_wins_over_telehealth_on_the_same_date(iop: SimpleNamespace) -> None:
    """g0, telehealth, comes first by id; g2, in person at the client's site, wins."""
    week, _, _ = next_week(iop.TODAY)
    g0 = blocks(("tue", "17:00", "21:00"), ("sat", "09:00", "13:00"))
    c1 = {"preferred_site_ids": ["s1"], "accepts_telehealth": True}
    start = iop.TODAY + timedelta(days=1)
    snap = with_g3(iop, network(iop, c1=c1), g0, "s2", start, "g0", delivery="telehealth")
    assert granted(ask(snap, week))["group_id"] == "g2"
    snap["enrollments"][0]["accepts_telehealth"] = False
    snap["groups"][1]["capacity"] = 1  # g2 full: only telehealth is left, refused
    answer = ask(snap, week)
    assert answer.makeup is None
    assert list(answer.reasons) == ["groups_full"]
    snap["enrollments"][0]["accepts_telehealth"] = True
    assert granted(ask(snap, week))["group_id"] == "g0"
