"""Screening for IOP suitability, from the clinical frame of SCHEDULING.md.

Screening informs staff; it never replaces a clinician's assessment. It only answers: does anything
in the referral's screening block say this client needs a more intensive (or less intensive) level
of care than an Intensive Outpatient Program?

The rules live in RULES, one row each, read top to bottom. Every rule whose condition holds adds its
reason; the recommended level is the most intensive level any matching rule names.
"""

from collections.abc import Callable
from dataclasses import dataclass

from iop_contracts import Population, Priority, PriorLevel, RecommendedLevel, Screening

DISCLAIMER = (
    "Screening informs intake staff; it never replaces a clinician's assessment "
    "of the level of care."
)


@dataclass(frozen=True)
class Rule:
    reason: str
    applies: Callable[[Screening, Population], bool]
    recommended_level: RecommendedLevel
    why: str


# IOP's range of care (SCHEDULING.md, the clinical frame): at least 9 hours a week for adults and
# 6 for adolescents, and under 20; 20 or more is partial hospitalisation.
IOP_MINIMUM_HOURS = {Population.ADULT: 9.0, Population.ADOLESCENT: 6.0}
PHP_MINIMUM_HOURS = 20.0


def _indicated_below_iop(screening: Screening, population: Population) -> bool:
    hours = screening.indicated_weekly_hours
    return hours is not None and hours < IOP_MINIMUM_HOURS[population]


def _indicated_php(screening: Screening, population: Population) -> bool:
    hours = screening.indicated_weekly_hours
    return hours is not None and hours >= PHP_MINIMUM_HOURS


RULES: tuple[Rule, ...] = (
    Rule(
        "needs_medical_detox",
        lambda s, _: s.needs_medical_detox,
        RecommendedLevel.INPATIENT,
        "medically supervised withdrawal needs round-the-clock medical care",
    ),
    Rule(
        "imminent_risk",
        lambda s, _: s.imminent_risk,
        RecommendedLevel.INPATIENT,
        "an imminent risk of harm needs a setting that is staffed around the clock",
    ),
    Rule(
        "needs_24h_supervision",
        lambda s, _: s.needs_24h_supervision,
        RecommendedLevel.INPATIENT,
        "IOP clients go home every day; 24-hour supervision is an inpatient or residential level",
    ),
    Rule(
        "medically_unstable",
        lambda s, _: not s.medically_stable,
        RecommendedLevel.PHP,
        "a medically unstable client needs the daily medical oversight of partial hospitalisation",
    ),
    Rule(
        "unstable_living_environment",
        lambda s, _: not s.stable_living_environment,
        RecommendedLevel.PHP,
        "IOP relies on a safe place to return to between sessions; without one, a day programme",
    ),
    Rule(
        "indicated_hours_php",
        _indicated_php,
        RecommendedLevel.PHP,
        "20 or more hours of structured care a week is partial hospitalisation, not IOP",
    ),
    Rule(
        "indicated_hours_below_iop",
        _indicated_below_iop,
        RecommendedLevel.OUTPATIENT,
        "fewer hours than IOP's minimum (9 a week, 6 for adolescents) is outpatient care",
    ),
)

# Most intensive first: a client who needs inpatient care and PHP is recommended inpatient.
_INTENSITY = (RecommendedLevel.INPATIENT, RecommendedLevel.PHP, RecommendedLevel.OUTPATIENT)

# Leaving one of these levels makes IOP a step down (CONTRACT.md, referral.submitted).
STEP_DOWN_FROM = frozenset({PriorLevel.INPATIENT, PriorLevel.RESIDENTIAL, PriorLevel.PHP})


@dataclass(frozen=True)
class Suited:
    """Nothing in the screening rules IOP out; `priority` is the one to enroll with."""

    priority: Priority


@dataclass(frozen=True)
class NotSuited:
    reasons: tuple[str, ...]
    recommended_level: RecommendedLevel


Outcome = Suited | NotSuited


def screen(
    screening: Screening, requested_priority: Priority, population: Population = Population.ADULT
) -> Outcome:
    matched = [rule for rule in RULES if rule.applies(screening, population)]
    if matched:
        level = min((rule.recommended_level for rule in matched), key=_INTENSITY.index)
        return NotSuited(tuple(rule.reason for rule in matched), level)
    return Suited(priority_after_screening(screening, requested_priority))


def priority_after_screening(screening: Screening, requested: Priority) -> Priority:
    """A step down from inpatient, residential or PHP is `step_down` unless the body says urgent."""
    if requested is Priority.URGENT:
        return Priority.URGENT
    if screening.prior_level in STEP_DOWN_FROM:
        return Priority.STEP_DOWN
    return requested
