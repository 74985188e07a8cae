"""The roster as a table: the latest event per entity key, and which region each entity serves.

`iop.roster.v1` is compaction-friendly (CONTRACT.md): an entity's state is its latest event. Two
guards make the table safe to rebuild from any replay:
- an event older (`time`) than the one the table holds for that key is stale and ignored, so a
  re-published old upsert cannot roll an entity back. Equal times keep Kafka order (times are
  whole seconds, so two quick edits of one entity share a time);
- an event already applied (same `id`) changes nothing: it is either older than the entity's
  entry (first guard) or of the same second, and the entry keeps the ids applied in its second.
So the table remembers, per entity, only the ids of that entity's latest second, not every id.
References are resolved late: a group may arrive before its site; it joins the site's region
when the site appears.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iop_contracts import (
    CloudEvent,
    GroupRetired,
    GroupUpserted,
    SiteUpserted,
    TherapistRetired,
    TherapistUpserted,
)

ROSTER_EVENTS = frozenset(
    "iop." + p.event_name
    for p in (SiteUpserted, GroupUpserted, GroupRetired, TherapistUpserted, TherapistRetired)
)


@dataclass(frozen=True)
class Entry:
    """One key's latest state: the payload data, or None once retired; `event_ids` are the
    events applied to the key at `time` (the latest one made `data`)."""

    time: datetime
    data: dict[str, Any] | None
    event_ids: tuple[str, ...] = ()


@dataclass
class RosterTable:
    sites: dict[str, Entry] = field(default_factory=dict)
    groups: dict[str, Entry] = field(default_factory=dict)
    therapists: dict[str, Entry] = field(default_factory=dict)

    def apply(self, event: CloudEvent) -> set[str]:
        """Apply one roster event; return the regions whose schedules it may affect (before and
        after the change), empty when the event changed nothing."""
        if event.type not in ROSTER_EVENTS:
            return set()
        payload = event.payload()
        table, key = self._slot(payload)
        current = table.get(key)
        same_second: tuple[str, ...] = ()
        if current is not None:
            if event.time < current.time or event.id in current.event_ids:
                return set()
            if event.time == current.time:
                same_second = current.event_ids
        before = self._regions_of(payload, current)
        retired = isinstance(payload, GroupRetired | TherapistRetired)
        data = None if retired else payload.model_dump(mode="json")
        entry = Entry(time=event.time, data=data, event_ids=(*same_second, event.id))
        table[key] = entry
        return before | self._regions_of(payload, entry)

    def _slot(self, payload: object) -> tuple[dict[str, Entry], str]:
        if isinstance(payload, SiteUpserted):
            return self.sites, payload.site_id
        if isinstance(payload, GroupUpserted | GroupRetired):
            return self.groups, payload.group_id
        if isinstance(payload, TherapistUpserted | TherapistRetired):
            return self.therapists, payload.therapist_id
        raise TypeError(type(payload).__name__)

    def _regions_of(self, payload: object, entry: Entry | None) -> set[str]:
        if entry is None or entry.data is None:
            return set()
        if isinstance(payload, SiteUpserted):
            return {str(entry.data["region_id"])}
        if isinstance(payload, GroupUpserted | GroupRetired):
            return self.regions_of_sites([entry.data["site_id"]])
        return self.regions_of_sites(entry.data.get("site_ids") or [])

    # ----------------------------------------------------------------- queries

    def site_region(self, site_id: str) -> str | None:
        entry = self.sites.get(site_id)
        return None if entry is None or entry.data is None else str(entry.data["region_id"])

    def regions_of_sites(self, site_ids: Iterable[str]) -> set[str]:
        return {r for r in (self.site_region(s) for s in site_ids) if r is not None}

    def known_regions(self) -> set[str]:
        return {str(e.data["region_id"]) for e in self.sites.values() if e.data is not None}

    def region_roster(self, region_id: str) -> dict[str, list[dict[str, Any]]]:
        """Sites, live groups and live therapists of one region, as the solver's snapshot wants.

        A therapist belongs to every region where one of their sites is. A therapist with no
        site (telehealth only) belongs to no region: regions are solved independently, and
        sharing one person's hours across regions would let two solves double-book them.
        """
        sites = {
            key: e.data
            for key, e in sorted(self.sites.items())
            if e.data is not None and e.data["region_id"] == region_id
        }
        groups = [
            e.data
            for _, e in sorted(self.groups.items())
            if e.data is not None and e.data["site_id"] in sites
        ]
        therapists = [
            e.data
            for _, e in sorted(self.therapists.items())
            if e.data is not None and set(e.data.get("site_ids") or []) & sites.keys()
        ]
        return {"sites": list(sites.values()), "groups": groups, "therapists": therapists}

    def is_retired(self, kind: str, entity_id: str) -> bool:
        table = self.groups if kind == "group" else self.therapists
        entry = table.get(entity_id)
        return entry is not None and entry.data is None
