"""What the schedule topic says about make-ups: which requests are answered, which seats granted.

Pure, rebuilt by reading `iop.schedule.v1` like the rest of the projection. A request
(`makeup.requested`, on the enrollment topic) is answered once: its answer, a
`client.makeup_scheduled` or `client.makeup_unavailable`, names it as its `causationid`. The
answer is applied when the broker acknowledges it and again when the topic tail reads it back
(the second time changes nothing), and a restart or the next owner of the region reads every
answer before any request is handled again, so a request already answered is never answered
twice.

Memory per client is bounded: the ids of the last RECENT_IDS answers (a request redelivered
after a crash is one of the last few of its client), and the make-ups granted from a given day
on (``forget_before``: a make-up in the past holds no seat any more).
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from iop_contracts import ClientMakeupScheduled, ClientMakeupUnavailable, CloudEvent

MAKEUP_ANSWERS = frozenset(
    "iop." + p.event_name for p in (ClientMakeupScheduled, ClientMakeupUnavailable)
)
GRANTED = "iop." + ClientMakeupScheduled.event_name
RECENT_ANSWERS = 8
"""Answered request ids remembered per client."""


@dataclass
class ClientMakeups:
    answered: tuple[str, ...] = ()
    granted: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MakeupAnswers:
    clients: dict[str, ClientMakeups] = field(default_factory=dict)

    def apply(self, event: CloudEvent) -> bool:
        """Record one make-up answer; False when it is not one or was recorded already."""
        if event.type not in MAKEUP_ANSWERS or event.subject is None:
            return False
        book = self.clients.setdefault(event.subject, ClientMakeups())
        request = event.causationid or event.id
        if request in book.answered:
            return False
        book.answered = (*book.answered, request)[-RECENT_ANSWERS:]
        if event.type == GRANTED:
            book.granted.append(dict(event.data))
        return True

    def answered(self, client_id: str, request_id: str) -> bool:
        book = self.clients.get(client_id)
        return book is not None and request_id in book.answered

    def granted(self, client_ids: set[str], from_day: date | None) -> list[dict[str, Any]]:
        """The make-ups granted to ``client_ids`` on ``from_day`` or later, oldest date first."""
        found = [
            m
            for cid in sorted(client_ids)
            for m in self.clients.get(cid, ClientMakeups()).granted
            if from_day is None or date.fromisoformat(str(m["date"])) >= from_day
        ]
        return sorted(found, key=lambda m: (str(m["date"]), str(m["client_id"])))

    def forget_before(self, day: date) -> None:
        """Drop the make-ups dated before ``day`` (the answered ids stay)."""
        for book in self.clients.values():
            book.granted = [m for m in book.granted if date.fromisoformat(str(m["date"])) >= day]
