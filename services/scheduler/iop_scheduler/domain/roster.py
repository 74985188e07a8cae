"""The roster as a table: the latest event per entity key, and which region each entity serves.

`iop.roster.v1` is compaction-friendly (CONTRACT.md): an entity's state is its latest event. Two
guards make the table safe to rebuild from any replay:
- an event already applied (same `id`) changes nothing;
- an event older (`time`) than the one the table holds for that key is stale and ignored, so a
  re-published old upsert cannot roll an entity back. Equal times keep Kafka order (times are
  whole seconds, so two quick edits of one entity share a time).
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
    """One key's latest state: the payload data, or None once retired."""

    time: datetime
    data: dict[str, Any] | None


@dataclass
class RosterTable:
    sites: dict[str, Entry] = field(default_factory=dict)
    groups: dict[str, Entry] = field(default_factory=dict)
    therapists: dict[str, Entry] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def apply(self, event: CloudEvent) -> set[str]:
        """Apply one roster event; return the regions whose schedules it may affect (before and
        after the change), empty when the event changed nothing."""
        if event.id in self._seen or event.type not in ROSTER_EVENTS:
            return set()
        self._seen.add(event.id)
        payload = event.payload()
        table, key = self._slot(payload)
        current = table.get(key)
        if current is not None and event.time < current.time:
            return set()
        before = self._regions_of(payload, current)
        retired = isinstance(payload, GroupRetired | TherapistRetired)
        entry = Entry(time=event.time, data=None if retired else payload.model_dump(mode="json"))
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
