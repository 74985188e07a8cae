"""The substitutions already decided: a pure projection of `iop.staffing.v1`.

The scheduler publishes each `facilitator.substituted` once, applies it here when the broker
acknowledges it, and reads the topic back whole (every instance, from the beginning) so that a
restart or the next owner of a region knows what was decided and never decides it again. The
latest event for a group and date stands. An event whose id the table already applied for that
group and date (the read-back of our own publish) changes nothing, so a read-back that lags
behind a newer decision cannot roll it back.

Dates more than a week in the past are forgotten: only the current ISO week's hours still need
them (rule 7), and a read-back of a forgotten one is forgotten again at the next settle.
"""

from dataclasses import dataclass, field
from datetime import date

from iop_contracts import CloudEvent, FacilitatorSubstituted, new_event

from iop_scheduler.domain.calendar import Key, Substitution

SOURCE = "/iop/scheduler"
SUBSTITUTED = "iop." + FacilitatorSubstituted.event_name


@dataclass
class _Entry:
    substitution: Substitution
    event_ids: tuple[str, ...]


@dataclass
class StaffingTable:
    _entries: dict[Key, _Entry] = field(default_factory=dict)

    def apply(self, event: CloudEvent) -> bool:
        """Apply one staffing event; False when it is not a substitution or was applied
        already."""
        if event.type != SUBSTITUTED:
            return False
        payload = event.payload()
        assert isinstance(payload, FacilitatorSubstituted)
        sub = Substitution(
            group_id=payload.group_id,
            region_id=payload.region_id,
            day=payload.date,
            facilitator_id=payload.facilitator_id,
            replaces=payload.replaces,
        )
        current = self._entries.get(sub.key)
        seen = () if current is None else current.event_ids
        if event.id in seen:
            return False
        self._entries[sub.key] = _Entry(sub, (*seen, event.id))
        return True

    def decided(self, region_id: str) -> dict[Key, Substitution]:
        """The standing substitution per group and date of one region."""
        return {
            key: entry.substitution
            for key, entry in self._entries.items()
            if entry.substitution.region_id == region_id
        }

    def forget_before(self, day: date) -> None:
        for key in [k for k in self._entries if k[1] < day]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


def announcement(sub: Substitution, trigger: CloudEvent | None) -> CloudEvent:
    """The `facilitator.substituted` event of a decision, caused by ``trigger`` (the roster
    change that made it necessary) when there is one."""
    payload = FacilitatorSubstituted(
        group_id=sub.group_id,
        region_id=sub.region_id,
        date=sub.day,
        facilitator_id=sub.facilitator_id,
        replaces=sub.replaces,
    )
    if trigger is None:
        return new_event(payload, source=SOURCE)
    correlation = trigger.correlationid or trigger.id
    return new_event(payload, source=SOURCE, correlationid=correlation, causationid=trigger.id)
