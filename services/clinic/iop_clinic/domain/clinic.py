"""The clinic's read model: a projection of the roster, enrollment, schedule, staffing,
attendance and notification topics, and the questions the staff's API and board ask of it.

Kafka is the system of record: every field here is rebuilt by replaying the topics, and applying
an event twice (same `id`) changes nothing (client.py and stamps.py say how, with memory bounded
per key). No I/O, no clock: every question that depends on the date takes `today`.

Personal data: of an enrollment's `contact` only the first name is kept; of a therapist only the
id; of a notification only its outcome, channel, purpose and reason.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from iop_contracts import (
    AttendanceKind,
    AttendanceRecorded,
    CancelledKind,
    ClientAttendanceAlert,
    ClientCompleted,
    ClientHoursAtRisk,
    ClientMakeupScheduled,
    ClientMakeupUnavailable,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    Day,
    EnrollmentRequested,
    FacilitatorSubstituted,
    MakeupRequested,
    NotificationOutcome,
    Payload,
    Population,
    TimeWindow,
    Track,
    week_days,
)

from iop_clinic.domain import client as events
from iop_clinic.domain.client import ClientState
from iop_clinic.domain.compliance import WeekHours, minimum_minutes, week_hours
from iop_clinic.domain.occurrences import (
    Seat,
    Substitute,
    group_occurrence,
    individual_occurrence,
)
from iop_clinic.domain.programme import (
    ClientSlot,
    Programme,
    days,
    group_slot,
    individual_slot,
    programme_on,
)
from iop_clinic.domain.roster import ROSTER_PAYLOADS, Roster
from iop_clinic.domain.stamps import Stamped, supersede
from iop_clinic.domain.views import (
    AttendanceView,
    ClientStatus,
    ClientView,
    GroupView,
    MakeupView,
    Occurrence,
    ScheduleSummary,
    SiteView,
    WaitlistEntry,
)

ClientHandler = Callable[[ClientState, CloudEvent, Any], bool]

# Which client events the read model keeps, and how (first match wins: ClientRescheduled is a
# ClientScheduled, and every notification outcome a NotificationOutcome).
CLIENT_HANDLERS: tuple[tuple[type[Payload], ClientHandler], ...] = (
    (EnrollmentRequested, events.apply_enrollment),
    (MakeupRequested, events.apply_makeup_request),
    (ClientScheduled, lambda state, _, payload: events.apply_scheduled(state, payload)),
    (ClientWaitlisted, events.apply_waitlisted),
    (ClientUnscheduled, events.apply_unscheduled),
    (ClientCompleted, lambda state, _, payload: events.apply_completed(state, payload)),
    (ClientMakeupScheduled, events.apply_makeup),
    (ClientMakeupUnavailable, events.apply_makeup_unavailable),
    (AttendanceRecorded, events.apply_attendance),
    (ClientHoursAtRisk, lambda state, _, payload: events.apply_hours_at_risk(state, payload)),
    (ClientAttendanceAlert, lambda state, _, payload: events.apply_alert(state, payload)),
    (NotificationOutcome, events.apply_notification),
)


# Events that never change an occurrence (who meets, where, when, with whom, cancelled or not).
OCCURRENCE_NEUTRAL = (
    EnrollmentRequested,
    MakeupRequested,
    AttendanceRecorded,
    ClientHoursAtRisk,
    ClientAttendanceAlert,
    NotificationOutcome,
)
OCCURRENCE_CACHE = 100_000
"""Occurrences kept built at most (a region's weeks of meetings; then it starts afresh)."""


def client_handler(payload: Payload) -> ClientHandler | None:
    return next((h for kind, h in CLIENT_HANDLERS if isinstance(payload, kind)), None)


def makeup_window(makeup: MakeupView) -> TimeWindow:
    day = list(Day)[makeup.date.weekday()]
    return TimeWindow(day=day, start=makeup.start, end=makeup.end)


@dataclass
class Clinic:
    roster: Roster = field(default_factory=Roster)
    clients: dict[str, ClientState] = field(default_factory=dict)
    # The substitution that stands per group and date: the latest event.
    substitutes: dict[tuple[str, date], Stamped[Substitute]] = field(default_factory=dict)
    # Candidates for site and group questions: every client ever seen at a site or in a group
    # (a superset; each question checks the client's dates itself).
    _by_site: dict[str, set[str]] = field(default_factory=dict)
    _by_group: dict[str, set[str]] = field(default_factory=dict)
    # Occurrences already built, until an event that can change one (see OCCURRENCE_NEUTRAL):
    # recording attendance, the evening's bulk, then asks about the same meetings again and
    # again without changing any of them.
    _occurrences: dict[tuple[str, date], Occurrence | None] = field(
        default_factory=dict, repr=False
    )

    # ------------------------------------------------------------------ apply

    def apply(self, event: CloudEvent) -> bool:
        """Fold one event of any topic in; whether the state changed. A repeat, a stale event
        and a type the clinic does not keep change nothing. An invalid payload raises
        iop_contracts.ContractError (the consumer dead-letters it)."""
        payload = event.payload()
        changed = self._fold(event, payload)
        if changed and not isinstance(payload, OCCURRENCE_NEUTRAL):
            self._occurrences.clear()
        return changed

    def _fold(self, event: CloudEvent, payload: Payload) -> bool:
        if isinstance(payload, ROSTER_PAYLOADS):
            return self.roster.apply(event, payload)
        if isinstance(payload, FacilitatorSubstituted):
            return self._substituted(event, payload)
        handler = client_handler(payload)
        if handler is None:
            return False
        client_id = str(payload.subject)
        state = self.clients.setdefault(client_id, ClientState(client_id))
        changed = handler(state, event, payload)
        if changed:
            self._index(state)
        return changed

    def _substituted(self, event: CloudEvent, payload: FacilitatorSubstituted) -> bool:
        key = (payload.group_id, payload.date)
        value = Substitute(payload.facilitator_id, payload.replaces)
        entry = supersede(self.substitutes.get(key), event, value)
        if entry is None:
            return False
        self.substitutes[key] = entry
        return True

    def _index(self, state: ClientState) -> None:
        sites, groups = _places(state)
        for site_id in sites:
            self._by_site.setdefault(site_id, set()).add(state.client_id)
        for group_id in groups:
            self._by_group.setdefault(group_id, set()).add(state.client_id)

    # ------------------------------------------------------------------ roster

    def sites(self) -> list[SiteView]:
        return sorted((e.value for e in self.roster.sites.values()), key=lambda s: s.site_id)

    def groups(self, site_id: str) -> list[GroupView]:
        """The live groups the roster places at the site (telehealth ones included)."""
        return [g for g in self.roster.groups_at(site_id) if not g.retired]

    # ------------------------------------------------------------- occurrences

    def occurrences(self, site_id: str, day: date) -> list[Occurrence]:
        """Every group occurrence and individual session held at the site that day (cancelled
        ones included, marked), by start time."""
        found = [o for g in self._groups_near(site_id, day) if (o := self.occurrence(g, day))]
        found = [o for o in found if o.site_id == site_id]
        for client_id in self._by_site.get(site_id, ()):
            individual = self._individual(client_id, day)
            if individual is not None and individual.site_id == site_id:
                found.append(individual)
        return sorted(found, key=_occurrence_order)

    def _groups_near(self, site_id: str, day: date) -> set[str]:
        """The roster's groups at the site, and the groups its clients sit in that day."""
        groups = {g.group_id for g in self.roster.groups_at(site_id)}
        for client_id in self._by_site.get(site_id, ()):
            state = self.clients[client_id]
            programme = programme_on(state.programmes, day)
            if programme is not None:
                groups.add(programme.schedule.group.group_id)
            groups.update(m.group_id for m in state.makeups if m.date == day)
        return groups

    def occurrence(self, group_id: str, day: date) -> Occurrence | None:
        """The group's occurrence that day (None: it does not meet and nobody sits in it)."""
        key = (group_id, day)
        if key not in self._occurrences:
            if len(self._occurrences) >= OCCURRENCE_CACHE:
                self._occurrences.clear()
            self._occurrences[key] = self._build_occurrence(group_id, day)
        return self._occurrences[key]

    def _build_occurrence(self, group_id: str, day: date) -> Occurrence | None:
        group = self.roster.group(group_id)
        seats = self._seats(group_id, day)
        site_id = group.site_id if group else (seats[0].site_id if seats else None)
        site = None if site_id is None else self.roster.site(site_id)
        sub = self.substitutes.get((group_id, day))
        return group_occurrence(group_id, group, site, day, seats, sub.value if sub else None)

    def _seats(self, group_id: str, day: date) -> list[Seat]:
        """Who sits in the group that day: members whose programme holds it, and make-ups
        booked into it by clients whose programme covers that date (a client who left before
        their make-up is no longer expected at it)."""
        seats = []
        for client_id in sorted(self._by_group.get(group_id, ())):
            state = self.clients[client_id]
            programme = programme_on(state.programmes, day)
            if programme is None:
                continue
            member = _member_seat(client_id, programme, group_id, day)
            if member is not None:
                seats.append(member)
            seats += [
                _makeup_seat(client_id, m)
                for m in state.makeups
                if m.date == day and m.group_id == group_id
            ]
        return seats

    def _individual(self, client_id: str, day: date) -> Occurrence | None:
        state = self.clients.get(client_id)
        programme = None if state is None else programme_on(state.programmes, day)
        if state is None or programme is None:
            return None
        slot = self._individual_slot(programme, day)
        if slot is None:
            return None
        site = self.roster.site(slot.site_id)
        delivery = programme.schedule.individual.delivery
        return individual_occurrence(client_id, slot, delivery, site, state.region_id)

    def _individual_slot(self, programme: Programme, day: date) -> ClientSlot | None:
        """Rule 11: the individual session is not held when the site holding it is closed."""
        site = self.roster.site(programme.schedule.individual.site_id)
        return individual_slot(programme, day, site is not None and site.closed_on(day))

    def expected(
        self,
        client_id: str,
        day: date,
        kind: AttendanceKind,
        group_id: str | None,
        therapist_id: str | None,
    ) -> Occurrence | None:
        """The occurrence the client is expected at (not cancelled for them), else None. A
        group or make-up record names its group (else the client's own that day); the therapist
        is checked for individual sessions only (a group record may name the regular facilitator
        or the substitute, or none)."""
        if kind is AttendanceKind.INDIVIDUAL:
            found = self._individual(client_id, day)
            if found is None or therapist_id not in (None, found.therapist_id):
                return None
        else:
            group = group_id or self._group_of(client_id, day, kind)
            found = None if group is None else self.occurrence(group, day)
        if found is None or client_id not in found.expected:
            return None
        return found if found.attendance_kind(client_id) is kind else None

    def _group_of(self, client_id: str, day: date, kind: AttendanceKind) -> str | None:
        state = self.clients.get(client_id)
        if state is None:
            return None
        if kind is AttendanceKind.MAKEUP:
            return next((m.group_id for m in state.makeups if m.date == day), None)
        programme = programme_on(state.programmes, day)
        return None if programme is None else programme.schedule.group.group_id

    # ----------------------------------------------------------------- clients

    def client(self, client_id: str) -> ClientView | None:
        state = self.clients.get(client_id)
        if state is None:
            return None
        latest = state.latest
        profile = None if state.profile is None else state.profile.value
        return ClientView(
            client_id=client_id,
            first_name=state.first_name,
            region_id=state.region_id,
            site_id=self.client_site(client_id),
            status=state.status,
            track=None if profile is None else profile.track,
            population=None if profile is None else profile.population,
            schedule=None if latest is None else _summary(latest),
            cancelled=() if latest is None else tuple(latest.schedule.cancelled),
            attendance=tuple(sorted((e.value for e in state.records.values()), key=_by_date)),
            makeups=tuple(sorted(state.makeups, key=lambda m: (m.date, m.start))),
            makeup_requests=state.makeup_requests,
            makeups_unavailable=state.makeups_unavailable,
            notifications=state.notifications,
            waitlist_reasons=state.waitlist_reasons,
            waitlisted_since=self._local_date(state.waitlisted_since, state.region_id),
        )

    def client_ids(self) -> list[str]:
        return sorted(self.clients)

    def first_name(self, client_id: str) -> str | None:
        state = self.clients.get(client_id)
        return None if state is None else state.first_name

    def status(self, client_id: str) -> ClientStatus | None:
        state = self.clients.get(client_id)
        return None if state is None else state.status

    def track(self, client_id: str) -> Track | None:
        """The client's track: the enrollment's, else their group's."""
        state = self.clients.get(client_id)
        if state is not None and state.profile is not None:
            return state.profile.value.track
        latest = None if state is None else state.latest
        group = None if latest is None else self.roster.group(latest.schedule.group.group_id)
        return None if group is None else group.track

    def client_site(self, client_id: str) -> str | None:
        """The client's home site: their group's (latest schedule), else the first site they
        asked for."""
        state = self.clients.get(client_id)
        if state is None:
            return None
        if state.latest is not None:
            return state.latest.schedule.group.site_id
        preferred = () if state.profile is None else state.profile.value.preferred_site_ids
        return preferred[0] if preferred else None

    def client_sites(self, client_id: str) -> tuple[str, ...]:
        """The sites a client belongs to (for key scoping, intake's rule): their latest
        schedule's group and individual sites, or, never placed, the sites they asked for. A
        make-up elsewhere does not move them: their home site's key still reads them, and the
        host site records the make-up's attendance by where it is held."""
        state = self.clients.get(client_id)
        if state is None:
            return ()
        latest = state.latest
        if latest is None:
            return () if state.profile is None else state.profile.value.preferred_site_ids
        placed = [latest.schedule.group.site_id, latest.schedule.individual.site_id]
        return tuple(dict.fromkeys(placed))

    def client_region(self, client_id: str) -> str | None:
        state = self.clients.get(client_id)
        return None if state is None else state.region_id

    def clients_of_site(self, site_id: str) -> list[str]:
        """The clients whose `client_sites` include the site."""
        candidates = self._by_site.get(site_id, ())
        return sorted(c for c in candidates if site_id in self.client_sites(c))

    def waitlist(self) -> list[WaitlistEntry]:
        """Waiting clients, longest waiting first."""
        entries = [
            WaitlistEntry(
                client_id=state.client_id,
                region_id=state.region_id,
                reasons=state.waitlist_reasons,
                since=self._local_date(state.waitlisted_since, state.region_id) or date.min,
                preferred_site_ids=self.client_sites(state.client_id),
            )
            for state in self.clients.values()
            if state.status is ClientStatus.WAITLISTED
        ]
        return sorted(entries, key=lambda e: (e.since, e.client_id))

    def _local_date(self, moment: datetime | None, region_id: str | None) -> date | None:
        if moment is None:
            return None
        zone = self.roster.region_timezone(region_id)
        return moment.astimezone(ZoneInfo(zone)).date() if zone else moment.date()

    # -------------------------------------------------------------- compliance

    def slots(self, client_id: str, first: date, last: date) -> list[ClientSlot]:
        """The client's dated slots from `first` to `last` (group, individual, make-ups), each
        marked cancelled as its occurrence is, in time order."""
        state = self.clients.get(client_id)
        if state is None:
            return []
        found: list[ClientSlot] = []
        for day in days(first, last):
            found += self._slots_on(state, day)
        return sorted(found, key=lambda s: s.order)

    def _slots_on(self, state: ClientState, day: date) -> list[ClientSlot]:
        programme = programme_on(state.programmes, day)
        if programme is None:
            return []
        found = []
        group = group_slot(programme, day)
        if group is not None and group.group_id is not None:
            found.append(self._as_held(state.client_id, group, group.group_id))
        individual = self._individual_slot(programme, day)
        if individual is not None:
            found.append(individual)
        makeups = [m for m in state.makeups if m.date == day]
        held = (self._as_held(state.client_id, _makeup_slot(m), m.group_id) for m in makeups)
        return [*found, *_merged(held)]

    def _as_held(self, client_id: str, slot: ClientSlot, group_id: str) -> ClientSlot:
        """The slot, cancelled for the reason its group's occurrence is cancelled for them."""
        held = self.occurrence(group_id, slot.date)
        reasons = {c.client_id: c.reason for c in held.cancelled} if held else {}
        return ClientSlot(**{**_fields(slot), "cancelled": reasons.get(client_id)})

    def population(self, client_id: str) -> Population:
        """The client's level of care: the enrollment's, else their group's, else adult."""
        state = self.clients.get(client_id)
        if state is not None and state.profile is not None:
            return state.profile.value.population
        latest = None if state is None else state.latest
        group = None if latest is None else self.roster.group(latest.schedule.group.group_id)
        return Population.ADULT if group is None else group.population

    def week_hours(self, client_id: str, week: str, today: date) -> WeekHours:
        """The client's hours that ISO week (compliance.py); all zero for an unknown client."""
        monday, sunday = week_days(week)
        slots = self.slots(client_id, monday, sunday)
        state = self.clients.get(client_id)
        records = {} if state is None else {k: e.value for k, e in state.records.items()}
        regular = sum(s.minutes for s in slots if s.kind is not AttendanceKind.MAKEUP)
        minimum = minimum_minutes(self.population(client_id), regular)
        return week_hours(week, slots, records, today, minimum)

    def programme_span(self, client_id: str) -> tuple[date, date] | None:
        """The first and last day any kept schedule version covers (None: never placed)."""
        state = self.clients.get(client_id)
        programmes = () if state is None else state.programmes
        covering = [p for p in programmes if p.start_date <= p.last_day]
        if not covering:
            return None
        return min(p.start_date for p in covering), max(p.last_day for p in covering)

    def hours_at_risk_published(self, client_id: str, week: str) -> bool:
        state = self.clients.get(client_id)
        return state is not None and week in state.at_risk_weeks

    def alerts_published(self, client_id: str) -> frozenset[date]:
        """The `last_date`s of the client's attendance alerts already published."""
        state = self.clients.get(client_id)
        return frozenset() if state is None else frozenset(state.alerted_dates)

    def records(self, client_id: str) -> dict[tuple[date, AttendanceKind], AttendanceView]:
        """The records that stand for the client, by date and kind."""
        state = self.clients.get(client_id)
        return {} if state is None else {k: e.value for k, e in state.records.items()}


# ------------------------------------------------------------------------ helpers


def _places(state: ClientState) -> tuple[set[str], set[str]]:
    """Every site and group the client's kept state names."""
    sites: set[str] = set()
    groups: set[str] = set()
    for programme in state.programmes:
        schedule = programme.schedule
        sites |= {schedule.group.site_id, schedule.individual.site_id}
        groups.add(schedule.group.group_id)
    for makeup in state.makeups:
        sites.add(makeup.site_id)
        groups.add(makeup.group_id)
    if state.profile is not None:
        sites.update(state.profile.value.preferred_site_ids)
    return sites, groups


def _member_seat(client_id: str, programme: Programme, group_id: str, day: date) -> Seat | None:
    placement = programme.schedule.group
    windows = programme.group_sessions_on(day)
    if placement.group_id != group_id or not windows:
        return None
    return Seat(
        client_id=client_id,
        kind=AttendanceKind.GROUP,
        facilitator_id=placement.facilitator_id,
        windows=windows,
        delivery=placement.delivery,
        site_id=placement.site_id,
        cancelled=programme.cancellation(day, CancelledKind.GROUP),
    )


def _makeup_seat(client_id: str, makeup: MakeupView) -> Seat:
    return Seat(
        client_id=client_id,
        kind=AttendanceKind.MAKEUP,
        facilitator_id=makeup.facilitator_id,
        windows=(makeup_window(makeup),),
        delivery=makeup.delivery,
        site_id=makeup.site_id,
    )


def _makeup_slot(makeup: MakeupView) -> ClientSlot:
    return ClientSlot(
        date=makeup.date,
        kind=AttendanceKind.MAKEUP,
        start=makeup.start,
        end=makeup.end,
        minutes=makeup.minutes,
        site_id=makeup.site_id,
        group_id=makeup.group_id,
        therapist_id=makeup.facilitator_id,
    )


def _merged(slots: Iterable[ClientSlot]) -> list[ClientSlot]:
    """Make-ups of one date are one slot (attendance is recorded per date and kind)."""
    merged: ClientSlot | None = None
    for slot in slots:
        if merged is None:
            merged = slot
            continue
        merged = ClientSlot(
            **{
                **_fields(merged),
                "start": min(merged.start, slot.start),
                "end": max(merged.end, slot.end),
                "minutes": merged.minutes + slot.minutes,
                "cancelled": merged.cancelled and slot.cancelled,
            }
        )
    return [] if merged is None else [merged]


def _fields(slot: ClientSlot) -> dict[str, Any]:
    return {name: getattr(slot, name) for name in ClientSlot.__slots__}


def _summary(programme: Programme) -> ScheduleSummary:
    schedule = programme.schedule
    return ScheduleSummary(
        schedule_version=schedule.schedule_version,
        group_id=schedule.group.group_id,
        site_id=schedule.group.site_id,
        delivery=schedule.group.delivery,
        facilitator_id=schedule.group.facilitator_id,
        sessions=tuple(schedule.group.sessions),
        therapist_id=schedule.individual.therapist_id,
        individual=schedule.individual.window,
        individual_site_id=schedule.individual.site_id,
        individual_delivery=schedule.individual.delivery,
        start_date=schedule.start_date,
        end_date=schedule.end_date,
        last_day=programme.last_day,
        weekly_hours=schedule.weekly_hours,
        timezone=schedule.timezone,
    )


def _by_date(record: AttendanceView) -> tuple[date, str]:
    return record.date, record.kind.value


def _occurrence_order(occurrence: Occurrence) -> tuple[str, str, str, str]:
    return (
        occurrence.start,
        occurrence.kind.value,
        occurrence.group_id or "",
        ",".join(occurrence.expected + tuple(c.client_id for c in occurrence.cancelled)),
    )
