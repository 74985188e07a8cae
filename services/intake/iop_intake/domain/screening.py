"""Screening for IOP suitability, from the clinical frame of SCHEDULING.md.

Screening informs staff; it never replaces a clinician's assessment. It only answers: does anything
in the referral's screening block say this client needs a more intensive (or less intensive) level
of care than an Intensive Outpatient Program?

The rules live in RULES, one row each, read top to bottom. Every rule whose condition holds adds its
reason; the recommended level is the most intensive level any matching rule names.
"""

from collections.abc import Callable
from dataclasses import dataclass

from iop_contracts import Priority, PriorLevel, RecommendedLevel, Screening

DISCLAIMER = (
    "Screening informs intake staff; it never replaces a clinician's assessment "
    "of the level of care."
)


@dataclass(frozen=True)
class Rule:
    reason: str
    applies: Callable[[Screening], bool]
    recommended_level: RecommendedLevel
    why: str


RULES: tuple[Rule, ...] = (
    Rule(
        "needs_medical_detox",
        lambda s: s.needs_medical_detox,
        RecommendedLevel.INPATIENT,
        "medically supervised withdrawal needs round-the-clock medical care",
    ),
    Rule(
        "imminent_risk",
        lambda s: s.imminent_risk,
        RecommendedLevel.INPATIENT,
        "an imminent risk of harm needs a setting that is staffed around the clock",
    ),
    Rule(
        "needs_24h_supervision",
        lambda s: s.needs_24h_supervision,
        RecommendedLevel.INPATIENT,
        "IOP clients go home every day; 24-hour supervision is an inpatient or residential level",
    ),
    Rule(
        "medically_unstable",
        lambda s: not s.medically_stable,
        RecommendedLevel.PHP,
        "a medically unstable client needs the daily medical oversight of partial hospitalisation",
    ),
    Rule(
        "unstable_living_environment",
        lambda s: not s.stable_living_environment,
        RecommendedLevel.PHP,
        "IOP relies on a safe place to return to between sessions; without one, a day programme",
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


def screen(screening: Screening, requested_priority: Priority) -> Outcome:
    matched = [rule for rule in RULES if rule.applies(screening)]
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
