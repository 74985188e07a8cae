"""Reading the board's forms (application/x-www-form-urlencoded, parsed here: the board needs no
multipart parser) and turning a roll call's taps into the JSON API's entries."""

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request
from iop_contracts import AttendanceStatus

from iop_clinic.http.attendance import RollCallEntry
from iop_clinic.web.access import BoardRefusal
from iop_clinic.web.pages import RollCallPage, RollCallRow

FORM_LIMIT = 256 * 1024  # bytes: a roll call of a full group is a few KiB
FORM_TYPE = "application/x-www-form-urlencoded"

Form = Mapping[str, str]


async def form_of(request: Request) -> dict[str, str]:
    """The posted fields (the last value of a repeated one)."""
    if not request.headers.get("content-type", "").startswith(FORM_TYPE):
        raise BoardRefusal(415, "The board accepts its own forms only.")
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise BoardRefusal(413, "That form is too large.")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise BoardRefusal(400, "That form could not be read.") from None


@dataclass(frozen=True, slots=True)
class Marks:
    """What a roll call form changes: the entries to record, and the problems (by client id)."""

    entries: tuple[RollCallEntry, ...]
    problems: dict[str, str]


def marks_of(form: Form, page: RollCallPage) -> Marks:
    """One entry per client whose mark differs from the record that stands (a correction) or
    who has none yet; an unmarked client is left as they are."""
    entries, problems = [], {}
    for row in page.rows:
        status_text = form.get(f"status-{row.client_id}", "")
        if not status_text:
            continue
        try:
            status = AttendanceStatus(status_text)
            minutes = _minutes(form.get(f"minutes-{row.client_id}", ""), status, page)
        except ValueError as error:
            problems[row.client_id] = str(error)
            continue
        if not _unchanged(row, status, minutes, page):
            entries.append(
                RollCallEntry(client_id=row.client_id, status=status, minutes_attended=minutes)
            )
    return Marks(tuple(entries), problems)


def _minutes(text: str, status: AttendanceStatus, page: RollCallPage) -> int | None:
    """The minutes to record: none for absent or excused, the whole session for present unless
    given, and required (within the session) for late and left early."""
    if not status.attended:
        return None
    if not text.strip():
        if status is AttendanceStatus.PRESENT:
            return None
        raise ValueError(f"give the minutes attended when {status.value.replace('_', ' ')}")
    if not text.strip().isdigit():
        raise ValueError("minutes attended must be a whole number")
    minutes = int(text)
    if minutes > page.occurrence.minutes:
        raise ValueError(f"at most the session's {page.occurrence.minutes} minutes")
    return minutes


def _unchanged(
    row: RollCallRow, status: AttendanceStatus, minutes: int | None, page: RollCallPage
) -> bool:
    full = page.occurrence.minutes if status.attended else 0
    return row.status is status and (full if minutes is None else minutes) == row.minutes
