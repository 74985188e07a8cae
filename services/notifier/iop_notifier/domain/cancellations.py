"""Which cancellations a client's calendar keeps, version after version.

The scheduler lists only the cancelled occurrences dated on or after the day it publishes a
schedule: an entry dated before that day is left out because it is past, not because it was
lifted. The notifier keeps such entries from the schedule it held before, so that the calendar
it sends keeps their EXDATE (a past session that did not happen does not reappear) and the
message does not say it "takes place after all". An entry dated on or after that day that is
missing was lifted: it is dropped, and the message says so.
"""

from datetime import date

from iop_contracts.payloads import ClientScheduled


def keep_past_cancellations(
    previous: ClientScheduled | None, current: ClientScheduled, published_on: date
) -> ClientScheduled:
    """`current` with the entries of `previous` dated before `published_on` (the schedule's
    day of publication, in its time zone) that it left out and that fall within its dates."""
    if previous is None:
        return current
    listed = {(entry.date, entry.kind) for entry in current.cancelled}
    kept = [
        entry
        for entry in previous.cancelled
        if entry.date < published_on
        and (entry.date, entry.kind) not in listed
        and current.start_date <= entry.date <= current.end_date
    ]
    if not kept:
        return current
    merged = sorted([*kept, *current.cancelled], key=lambda e: (e.date, e.kind.value))
    return current.model_copy(update={"cancelled": merged})
