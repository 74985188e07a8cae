"""Make-up seats the solver must leave alone (SCHEDULING.md rules 4 and 12).

A granted make-up (``client.makeup_scheduled``) is one dated extra group session: it holds one
seat of its group on its date, beside the clients whose programme covers that date. The
snapshot lists the make-ups already granted under the optional key ``makeups`` (each item the
event's payload); the solver reads only the group and the date.

They are booked into the ledger after the existing schedules are admitted (instance.py), as a
seat held for one day, so that every later placement counts them where it counts kept clients:
the ledger's seats (first-fit clerk, rounding, top-up, waitlist reasons, extensions), the
model's capacity on the dates where occupancy rises, and the start dates that matter (a seat a
make-up holds is free again the day after). Booked after, never before: a make-up never moves
anyone (rule 10), so it can only take a seat no kept client needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import InvalidSnapshot
from .weektime import parse_date


@dataclass(frozen=True, order=True)
class BookedMakeup:
    """One seat of ``group_id`` held on ``day`` by ``client_id``'s make-up."""

    group_id: str
    day: date
    client_id: str

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BookedMakeup:
        for key in ("group_id", "date", "client_id"):
            if item.get(key) is None:
                raise InvalidSnapshot(f"make-up: missing field {key!r}")
        return cls(
            group_id=str(item["group_id"]),
            day=parse_date(item["date"], "make-up date"),
            client_id=str(item["client_id"]),
        )


def parse_makeups(snapshot: Mapping[str, Any]) -> tuple[BookedMakeup, ...]:
    """The snapshot's granted make-ups (key ``makeups``, optional), in a stable order."""
    items = snapshot.get("makeups") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise InvalidSnapshot("snapshot 'makeups' must be a list of objects")
    return tuple(sorted(BookedMakeup.parse(i) for i in items))
