"""The roster as the clinic needs it: sites with their closures, groups, therapists' ids.

`iop.roster.v1` is a table: the latest event per entity stands (see stamps.py). The clinic keeps
a site's name, region, time zone and closed dates; a group's fields (no name beyond its id); and
of a therapist only the id and whether they are retired (a therapist's name is not needed to run
a roll call, so it is not kept). A retired group keeps its last fields, flagged, so that its past
occurrences can still be shown.
"""

from dataclasses import dataclass, field, replace
from typing import TypeVar

from iop_contracts import (
    CloudEvent,
    GroupRetired,
    GroupUpserted,
    Payload,
    SiteUpserted,
    TherapistRetired,
    TherapistUpserted,
)

from iop_clinic.domain.stamps import Stamped, supersede
from iop_clinic.domain.views import GroupView, SiteView

T = TypeVar("T")

ROSTER_PAYLOADS = (SiteUpserted, GroupUpserted, GroupRetired, TherapistUpserted, TherapistRetired)


def site_view(payload: SiteUpserted) -> SiteView:
    return SiteView(
        site_id=payload.site_id,
        name=payload.name,
        region_id=payload.region_id,
        timezone=payload.timezone,
        closed_dates=frozenset(payload.closed_dates),
    )


def group_view(payload: GroupUpserted) -> GroupView:
    return GroupView(
        group_id=payload.group_id,
        site_id=payload.site_id,
        delivery=payload.delivery,
        track=payload.track,
        modality=payload.modality,
        population=payload.population,
        gender=payload.gender,
        language=payload.language,
        capacity=payload.capacity,
        sessions=tuple(payload.sessions),
        facilitator_id=payload.facilitator_id,
        open_from=payload.open_from,
    )


@dataclass
class Roster:
    sites: dict[str, Stamped[SiteView]] = field(default_factory=dict)
    groups: dict[str, Stamped[GroupView | None]] = field(default_factory=dict)
    # A therapist's id -> whether they are live (True) or retired (False).
    therapists: dict[str, Stamped[bool]] = field(default_factory=dict)

    def apply(self, event: CloudEvent, payload: Payload) -> bool:
        """Apply one roster event; False when stale, a repeat, or not a roster payload."""
        if isinstance(payload, SiteUpserted):
            return _put(self.sites, payload.site_id, event, site_view(payload))
        if isinstance(payload, GroupUpserted):
            return _put(self.groups, payload.group_id, event, group_view(payload))
        if isinstance(payload, GroupRetired):
            return _put(self.groups, payload.group_id, event, self._retired(payload.group_id))
        if isinstance(payload, TherapistUpserted | TherapistRetired):
            live = isinstance(payload, TherapistUpserted)
            return _put(self.therapists, payload.therapist_id, event, live)
        return False

    def _retired(self, group_id: str) -> GroupView | None:
        entry = self.groups.get(group_id)
        if entry is None or entry.value is None:
            return None
        return replace(entry.value, retired=True)

    # ------------------------------------------------------------------ queries

    def site(self, site_id: str) -> SiteView | None:
        entry = self.sites.get(site_id)
        return None if entry is None else entry.value

    def group(self, group_id: str) -> GroupView | None:
        """The group's last known fields, retired or not."""
        entry = self.groups.get(group_id)
        return None if entry is None else entry.value

    def groups_at(self, site_id: str) -> list[GroupView]:
        """Every group the roster places at the site (telehealth ones included), retired too."""
        found = [e.value for e in self.groups.values() if e.value is not None]
        return sorted((g for g in found if g.site_id == site_id), key=lambda g: g.group_id)

    def region_timezone(self, region_id: str | None) -> str | None:
        """All sites of a region share a time zone (CONTRACT.md)."""
        return next(
            (e.value.timezone for e in self.sites.values() if e.value.region_id == region_id),
            None,
        )

    def live_therapists(self) -> list[str]:
        return sorted(t for t, entry in self.therapists.items() if entry.value)


def _put(table: dict[str, Stamped[T]], key: str, event: CloudEvent, value: T) -> bool:
    entry = supersede(table.get(key), event, value)
    if entry is None:
        return False
    table[key] = entry
    return True
