"""Each screening rule, and how rules combine (pure, no broker)."""

from typing import Any

import pytest
from iop_contracts import Population, Priority, PriorLevel, RecommendedLevel, Screening
from iop_intake.domain.screening import RULES, NotSuited, Suited, screen

from .conftest import SUITED_SCREENING


def screening(**changes: Any) -> Screening:
    return Screening.model_validate({**SUITED_SCREENING, **changes})


# One row per rule of RULES: the screening answer that triggers it alone, and what it recommends.
CASES = [
    ("needs_medical_detox", {"needs_medical_detox": True}, RecommendedLevel.INPATIENT),
    ("imminent_risk", {"imminent_risk": True}, RecommendedLevel.INPATIENT),
    ("needs_24h_supervision", {"needs_24h_supervision": True}, RecommendedLevel.INPATIENT),
    ("medically_unstable", {"medically_stable": False}, RecommendedLevel.PHP),
    ("unstable_living_environment", {"stable_living_environment": False}, RecommendedLevel.PHP),
    ("indicated_hours_php", {"indicated_weekly_hours": 20}, RecommendedLevel.PHP),
    ("indicated_hours_below_iop", {"indicated_weekly_hours": 8.5}, RecommendedLevel.OUTPATIENT),
]


def test_every_rule_has_a_case() -> None:
    assert {rule.reason for rule in RULES} == {reason for reason, _, _ in CASES}


@pytest.mark.parametrize(("reason", "answers", "level"), CASES)
def test_each_rule_declines_with_its_reason_and_level(
    reason: str, answers: dict[str, Any], level: RecommendedLevel
) -> None:
    outcome = screen(screening(**answers), Priority.ROUTINE)
    assert outcome == NotSuited((reason,), level)


def test_a_client_with_no_flag_is_suited_with_the_requested_priority() -> None:
    assert screen(screening(), Priority.ROUTINE) == Suited(Priority.ROUTINE)


def test_all_matching_reasons_are_given_and_the_most_intensive_level_wins() -> None:
    outcome = screen(
        screening(stable_living_environment=False, needs_medical_detox=True), Priority.URGENT
    )
    assert outcome == NotSuited(
        ("needs_medical_detox", "unstable_living_environment"), RecommendedLevel.INPATIENT
    )


@pytest.mark.parametrize("prior", [PriorLevel.INPATIENT, PriorLevel.RESIDENTIAL, PriorLevel.PHP])
def test_stepping_down_from_a_higher_level_is_step_down_priority(prior: PriorLevel) -> None:
    assert screen(screening(prior_level=prior), Priority.ROUTINE) == Suited(Priority.STEP_DOWN)


def test_urgent_stays_urgent_when_stepping_down() -> None:
    outcome = screen(screening(prior_level="inpatient"), Priority.URGENT)
    assert outcome == Suited(Priority.URGENT)


@pytest.mark.parametrize("prior", [PriorLevel.IOP, PriorLevel.OUTPATIENT, PriorLevel.NONE])
def test_other_prior_levels_keep_the_requested_priority(prior: PriorLevel) -> None:
    assert screen(screening(prior_level=prior), Priority.ROUTINE) == Suited(Priority.ROUTINE)


@pytest.mark.parametrize(
    ("hours", "population", "suited"),
    [
        (9, Population.ADULT, True),
        (19.5, Population.ADULT, True),
        (8.5, Population.ADULT, False),
        (6, Population.ADOLESCENT, True),
        (5.5, Population.ADOLESCENT, False),
        (20, Population.ADOLESCENT, False),
    ],
)
def test_indicated_hours_inside_iop_range_are_suited(
    hours: float, population: Population, suited: bool
) -> None:
    outcome = screen(screening(indicated_weekly_hours=hours), Priority.ROUTINE, population)
    assert isinstance(outcome, Suited) is suited


def test_no_indicated_hours_is_no_reason_to_decline() -> None:
    assert screen(screening(indicated_weekly_hours=None), Priority.ROUTINE) == Suited(
        Priority.ROUTINE
    )
