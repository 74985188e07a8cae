"""Static hard rules of SCHEDULING.md as predicates over single entities or pairs.

These decide which (client, group), (group, facilitator) and (client, therapist, slot) options
exist at all; the CP-SAT model (model.py) only adds the rules that couple several clients.
Each rule's predicate lives here once: the options (instance.py), the clerk (baseline.py), the
LP rounding (relaxation.py), the ledger, the model and the service's dated calendar all ask it
here. The independent checker (validate.py) deliberately does not use this module.
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

TRAVEL_MINUTES = 30
"""Rule 7: two in-person sessions of a therapist at different sites on one day are at least
this many minutes apart."""


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


def overlaps_group(when: Interval, group: Group) -> bool:
    """Rule 3: an individual session at ``when`` overlaps a session of ``group`` (a client's own
    sessions never overlap)."""
    return any(when.overlaps(s) for s in group.sessions)


def individual_place_ok(
    client: Enrollment, therapist: Therapist, site: Site, delivery: str
) -> bool:
    """Rules 2 and 7 for where an individual session is held (its times apart). In person: a
    site among the client's preferred sites and the therapist's sites. Telehealth: the client
    accepts it, the therapist does it, and the site it is attributed to is in the client's
    region."""
    if delivery == "telehealth":
        return (
            client.accepts_telehealth
            and therapist.telehealth
            and site.region_id == client.region_id
        )
    return site.site_id in client.preferred_site_ids and site.site_id in therapist.site_ids


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


def travel_site(site_id: str, delivery: str) -> str | None:
    """Rule 7: where a therapist travels for a session, its site in person; None by telehealth,
    which needs no travel."""
    return None if delivery == "telehealth" else site_id


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


def group_meets_on(group: Group, day: date, closed: frozenset[date] = frozenset()) -> bool:
    """Rule 9: a start date is a day the group meets and its site is not closed (rule 11,
    ``closed``: the site's ``closed_dates``; an existing schedule's start, in the past or kept,
    is not moved by a closure and is asked without them)."""
    return day.weekday() in group.meeting_days and day not in closed


def earliest_start(client: Enrollment, group: Group, as_of: date | None = None) -> date:
    """Rule 9: the earliest date the client may start in the group, the latest of
    ``requested_start``, the group's ``open_from`` and, for a new start, today (``as_of``).
    The admission horizon counts from it."""
    dates = [client.requested_start, group.open_from, as_of]
    return max(d for d in dates if d is not None)


def within_admission_horizon(start: date, earliest: date, horizon_days: int) -> bool:
    """Rule 9: a start date is at most the admission horizon after the earliest date the client
    may start (the latest of ``requested_start``, the group's ``open_from`` and today)."""
    return start <= earliest + timedelta(days=horizon_days)
