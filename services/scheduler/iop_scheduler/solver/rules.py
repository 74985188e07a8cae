"""Static hard rules of SCHEDULING.md as predicates over single entities or pairs.

These decide which (client, group), (group, facilitator) and (client, therapist, slot) options
exist at all; the CP-SAT model (model.py) only adds the rules that couple several clients.
The independent checker (validate.py) deliberately does not use this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from .dates import Booking
from .domain import (
    ADDICTION_CREDENTIALS,
    CLINICAL_LICENCES,
    GROUP_GENDER_FOR_CLIENT,
    MAX_WEEKLY_MINUTES_EXCLUSIVE,
    MIN_WEEKLY_MINUTES,
    MODALITIES_NEEDING_TRAINING,
    Enrollment,
    Group,
    Site,
    Therapist,
)
from .weektime import Interval, inside_one


def group_fits(client: Enrollment, group: Group) -> bool:
    """Rule 1, group fit: same track, population and language; group gender is ``any`` or
    matches the client (``women`` for ``woman``, ``men`` for ``man``)."""
    if (client.track, client.population, client.language) != (
        group.track,
        group.population,
        group.language,
    ):
        return False
    return group.gender == "any" or GROUP_GENDER_FOR_CLIENT.get(client.gender) == group.gender


def group_accessible(client: Enrollment, group: Group, sites: Mapping[str, Site]) -> bool:
    """Rule 2, access: an in-person group's site is among the client's preferred sites; a
    telehealth group needs ``accepts_telehealth`` and a site in the client's region."""
    site = sites.get(group.site_id)
    if site is None:
        return False
    if group.delivery == "telehealth":
        return client.accepts_telehealth and site.region_id == client.region_id
    return group.site_id in client.preferred_site_ids


def group_sessions_in_windows(group: Group, sites: Mapping[str, Site]) -> bool:
    """Rule 3 (site half): every group session lies inside one window of the group's site."""
    site = sites.get(group.site_id)
    return site is not None and all(inside_one(s, site.windows) for s in group.sessions)


def group_in_client_time(client: Enrollment, group: Group) -> bool:
    """Rule 3 (client half): every group session lies inside the client's availability."""
    return all(inside_one(s, client.availability) for s in group.sessions)


def weekly_hours_ok(client: Enrollment, group: Group, individual_minutes: int) -> bool:
    """Rule 5, weekly hours: group + individual hours >= 9 (adult) or 6 (adolescent), and < 20."""
    total = group.minutes + individual_minutes
    return (
        MIN_WEEKLY_MINUTES.get(client.population, 9 * 60) <= total < (MAX_WEEKLY_MINUTES_EXCLUSIVE)
    )


def facilitator_credentialed(therapist: Therapist, group: Group) -> bool:
    """Rule 6 for a facilitator: track credential (mental_health: clinical licence;
    substance_use: addiction credential; dual_diagnosis: both), the group's modality when it is
    ``dbt`` or ``trauma_informed``, and the group's population and language."""
    creds = therapist.credentials
    clinical = bool(creds & CLINICAL_LICENCES)
    addiction = bool(creds & ADDICTION_CREDENTIALS)
    track_ok = {
        "mental_health": clinical,
        "substance_use": addiction,
        "dual_diagnosis": clinical and addiction,
    }.get(group.track, False)
    if not track_ok:
        return False
    if group.modality in MODALITIES_NEEDING_TRAINING and group.modality not in therapist.modalities:
        return False
    return group.population in therapist.populations and group.language in therapist.languages


def individual_credentialed(therapist: Therapist, client: Enrollment) -> bool:
    """Rule 6 for an individual therapist: mental_health and dual_diagnosis need a clinical
    licence, substance_use a clinical licence or an addiction credential; the therapist serves
    the client's population and speaks the client's language."""
    creds = therapist.credentials
    clinical = bool(creds & CLINICAL_LICENCES)
    addiction = bool(creds & ADDICTION_CREDENTIALS)
    track_ok = {
        "mental_health": clinical,
        "substance_use": clinical or addiction,
        "dual_diagnosis": clinical,
    }.get(client.track, False)
    return (
        track_ok
        and client.population in therapist.populations
        and client.language in therapist.languages
    )


def facilitator_can_hold(therapist: Therapist, group: Group) -> bool:
    """Rule 7 for a facilitator: every session inside their availability; in person at one of
    their sites, or telehealth when they do telehealth; the group's hours fit their maximum."""
    if group.delivery == "telehealth":
        if not therapist.telehealth:
            return False
    elif group.site_id not in therapist.site_ids:
        return False
    if group.minutes > therapist.max_weekly_minutes:
        return False
    return all(inside_one(s, therapist.availability) for s in group.sessions)


def facilitator_qualifies(therapist: Therapist, group: Group) -> bool:
    """Rules 6 and 7 that a facilitator must meet for a group, whoever its clients are."""
    return facilitator_credentialed(therapist, group) and facilitator_can_hold(therapist, group)


def travel_conflict(
    a: Interval, a_site: str | None, b: Interval, b_site: str | None, travel_minutes: int
) -> bool:
    """Rule 7, travel: two in-person sessions at different sites on one day leave
    ``travel_minutes`` between them (``None`` marks a telehealth session, which needs no travel).
    Overlap itself is a separate conflict; this only flags the too-short gaps."""
    if a_site is None or b_site is None or a_site == b_site or a.day != b.day:
        return False
    return not a.overlaps(b) and a.gap_to(b) < travel_minutes


def sessions_conflict(
    a: Interval, a_site: str | None, b: Interval, b_site: str | None, travel_minutes: int
) -> bool:
    """Rule 7: a therapist's sessions never overlap, and in-person sessions at different sites
    on one day are at least ``travel_minutes`` apart."""
    return a.overlaps(b) or travel_conflict(a, a_site, b, b_site, travel_minutes)


def bookings_clash(a: Booking, b: Booking, travel_minutes: int) -> bool:
    """Rule 7, dated: two weekly sessions of one therapist clash (overlap, or too little time to
    travel between sites) only if their date ranges meet."""
    return a.dates.meets(b.dates) and sessions_conflict(
        a.interval, a.site, b.interval, b.site, travel_minutes
    )


def group_meets_on(group: Group, day: date) -> bool:
    """Rule 9: a start date is a day the group meets. (The one place to teach closures and
    cancelled occurrences to, when the solver learns them.)"""
    return day.weekday() in group.meeting_days


def within_admission_horizon(start: date, earliest: date, horizon_days: int) -> bool:
    """Rule 9: a start date is at most the admission horizon after the earliest date the client
    may start (the latest of ``requested_start``, the group's ``open_from`` and today)."""
    return start <= earliest + timedelta(days=horizon_days)
