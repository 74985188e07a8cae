"""Waitlist reasons that are true: each code is computed from the data, never guessed.

The static codes follow the rules in order, over the groups a client could reach (their region's
groups and those at their preferred sites):
  no_language_match          groups of the client's track and population exist, none in their
                             language; or no therapist in the region speaks it
  site_not_accessible        groups fit rule 1, none is reachable under rule 2
  no_group_in_availability   no group of the client's track fits rules 1-3 (SCHEDULING.md)
  insufficient_weekly_hours  groups fit rules 1-3, none gives 9 (adult) / 6 (adolescent) to < 20 h
  no_credentialed_therapist  no group left has a credentialed facilitator, or no therapist of the
                             region may see the client individually (rule 6)
and the dynamic ones over the final schedule:
  groups_full                every group that fits rules 1-3, 5, 6 is at capacity on some date of
                             the programme, whichever start rule 9 allows within the horizon
  therapist_capacity         a group has a seat, yet no therapist has the caseload, hours or a
                             free hour left to facilitate it or see the client individually
Details are codes and counts only: no personal data.
"""

from __future__ import annotations

from .dates import DateRange
from .domain import Enrollment, Group
from .instance import Instance, end_date_for, group_static_ok, start_dates_for
from .ledger import Ledger
from .problem import Waitlisting
from .rules import (
    facilitator_credentialed,
    group_accessible,
    group_fits,
    group_in_client_time,
    group_sessions_in_windows,
    individual_credentialed,
)


def _reachable(inst: Instance, client: Enrollment) -> list[Group]:
    problem = inst.problem
    return [
        g
        for _, g in sorted(problem.groups.items())
        if g.track == client.track
        and (problem.group_region(g) == client.region_id or g.site_id in client.preferred_site_ids)
    ]


def waitlist_reasons(inst: Instance, ledger: Ledger, client_id: str) -> tuple[list[str], str]:
    """Every reason code that applies to an unplaced client, and a detail string of counts."""
    problem = inst.problem
    client = problem.enrollments[client_id]
    minutes = inst.settings.individual_minutes
    reasons: list[str] = []
    in_track = _reachable(inst, client)
    same_population = [g for g in in_track if g.population == client.population]
    regional = [
        t
        for _, t in sorted(problem.therapists.items())
        if client.region_id in problem.therapist_regions(t)
    ]
    if (
        same_population and not any(g.language == client.language for g in same_population)
    ) or not any(client.language in t.languages for t in regional):
        reasons.append("no_language_match")
    fit = [g for g in in_track if group_fits(client, g)]
    access = [g for g in fit if group_accessible(client, g, problem.sites)]
    if fit and not access:
        reasons.append("site_not_accessible")
    timely = [
        g
        for g in access
        if group_sessions_in_windows(g, problem.sites) and group_in_client_time(client, g)
    ]
    if not timely:
        reasons.append("no_group_in_availability")
    enough = [g for g in timely if group_static_ok(client, g, problem.sites, minutes)]
    if timely and not enough:
        reasons.append("insufficient_weekly_hours")
    staffed = [g for g in enough if any(facilitator_credentialed(t, g) for t in regional)]
    individual = [t for t in regional if individual_credentialed(t, client)]
    if (enough and not staffed) or not individual:
        reasons.append("no_credentialed_therapist")
    stays = {g.group_id: _stays(inst, ledger, client, g) for g in staffed}
    open_groups = [
        g for g in staffed if any(ledger.seats_left(g.group_id, r) > 0 for r in stays[g.group_id])
    ]
    if staffed and not open_groups:
        reasons.append("groups_full")
    if open_groups and individual:
        reasons.append("therapist_capacity")
    if not reasons:
        # Unreachable in practice (the cases above cover every failed step), but a waitlisted
        # client always carries a code: therapist time is then what ran out.
        reasons.append("therapist_capacity")
    ranges = [ledger.session_dates(r) for rs in stays.values() for r in rs]
    with_room = sum(
        1
        for t in individual
        if any(
            ledger.caseload(t.therapist_id, r) < t.max_caseload
            and ledger.weekly_minutes(t.therapist_id, r) + minutes <= t.max_weekly_minutes
            for r in ranges
        )
    )
    detail = (
        f"track_groups={len(in_track)} fit={len(fit)} accessible={len(access)} "
        f"in_availability={len(timely)} hours_ok={len(enough)} staffed={len(staffed)} "
        f"with_seats={len(open_groups)} individual_therapists={len(individual)} "
        f"therapists_with_room={with_room}"
    )
    return reasons, detail


def _stays(inst: Instance, ledger: Ledger, client: Enrollment, group: Group) -> list[DateRange]:
    """The programme dates rule 9 allows the client in the group (the start dates that matter,
    seats freed by everyone the ledger holds included)."""
    freed = [r.end for r in ledger.members.get(group.group_id, ())]
    previous = inst.displaced.get(client.client_id)
    starts = start_dates_for(
        client, group, inst.settings, previous, freed, inst.problem.no_start(group)
    )
    return [DateRange(s, end_date_for(client, s)) for s in starts]


def waitlisting(inst: Instance, ledger: Ledger, client_id: str) -> Waitlisting:
    """An unplaced client's waitlisting: every true reason, and the counts behind them."""
    reasons, detail = waitlist_reasons(inst, ledger, client_id)
    return Waitlisting(client_id, tuple(reasons), detail)
