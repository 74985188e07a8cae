"""Bulk import of a backlog from CSV or XLSX: `import_csv(path)` (behind `iop enroll import`).

Every row is validated and screened like an HTTP request. Rows that fail are reported with their
row number and the fields at fault (never the values); the others are published to
iop.enrollment.v1. Each row's event id is derived from its validated content, and before sending the
import reads the ids already on the topic: a re-run, after an interruption or a fix to the bad rows,
sends only what is not there yet. Kafka is the record of what was sent; there is no side file.

Columns: the fields of `enrollment.requested`, with lists separated by ';' (preferred_site_ids,
indicated_modalities), availability as 'mon 17:30-22:00;sat 09:00-13:00', contact fields as
first_name, email, phone, email_consent, sms_consent, and optionally the screening block's fields
(needs_medical_detox, needs_24h_supervision, imminent_risk, medically_stable,
stable_living_environment, prior_level, indicated_weekly_hours); when any screening cell is
filled, the row is screened. An .xlsx file holds the same columns on its first sheet; its typed
cells (booleans, numbers, dates) are read as the CSV text they stand for.
"""

import asyncio
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from iop_contracts import CloudEvent, EnrollmentDeclined, topics
from iop_contracts.consume import read_table
from iop_contracts.kafka import KafkaSettings, make_broker, publish_event
from pydantic import ValidationError

from iop_intake.domain.admission import EnrollmentRequest, answer_event, decide, derived_event_id
from iop_intake.http.problems import field_problems

CONTACT_COLUMNS = ("first_name", "email", "phone", "email_consent", "sms_consent")
SCREENING_COLUMNS = (
    "needs_medical_detox",
    "needs_24h_supervision",
    "imminent_risk",
    "medically_stable",
    "stable_living_environment",
    "prior_level",
    "indicated_weekly_hours",
)
LIST_COLUMNS = ("preferred_site_ids", "indicated_modalities")
COLUMNS = (
    "client_id",
    "region_id",
    "track",
    "population",
    "gender",
    "language",
    "preferred_site_ids",
    "accepts_telehealth",
    "gender_specific_group",
    "availability",
    "requested_start",
    "program_weeks",
    "priority",
    "indicated_modalities",
    *CONTACT_COLUMNS,
    *SCREENING_COLUMNS,
)
_WINDOW = re.compile(r"^\s*([a-z]{3})\s+(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*$")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RejectedRow:
    row: int
    """The spreadsheet row number: the header is row 1, the first data row is row 2."""
    problem: str


@dataclass
class ImportSummary:
    rows: int = 0
    requested: int = 0
    declined: int = 0
    already_sent: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.rows} rows: {self.requested} enrollment.requested and {self.declined} "
            f"enrollment.declined published, {self.already_sent} already sent before, "
            f"{len(self.rejected)} rejected"
        )

    def write_report(self, path: Path) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "problem"])
            writer.writerows((rejected.row, rejected.problem) for rejected in self.rejected)


class RowError(ValueError):
    """A row that cannot become a request; the message names columns, never values."""


def row_to_body(row: dict[str, str | None]) -> dict[str, Any]:
    """The request body a CSV row stands for; empty cells are left out so defaults apply."""
    cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
    body: dict[str, Any] = {}
    for column, value in cells.items():
        if not value or column in CONTACT_COLUMNS or column in SCREENING_COLUMNS:
            continue
        if column in LIST_COLUMNS:
            body[column] = [item.strip() for item in value.split(";") if item.strip()]
        elif column == "availability":
            body[column] = [_window(item, i) for i, item in enumerate(value.split(";"))]
        else:
            body[column] = value
    body["contact"] = {c: cells[c] for c in CONTACT_COLUMNS if cells.get(c)}
    if any(cells.get(c) for c in SCREENING_COLUMNS):
        body["screening"] = {c: cells[c] for c in SCREENING_COLUMNS if cells.get(c)}
    return body


def _window(text: str, index: int) -> dict[str, str]:
    match = _WINDOW.match(text.lower())
    if match is None:
        raise RowError(f"availability.{index}: expected 'day HH:MM-HH:MM'")
    day, start, end = match.groups()
    return {"day": day, "start": start, "end": end}


@dataclass(frozen=True)
class PreparedRow:
    row: int
    client_id: str
    event: CloudEvent


def prepare(rows: Iterator[dict[str, str | None]], summary: ImportSummary) -> list[PreparedRow]:
    """Validate and screen every row; rejected rows go to the summary."""
    prepared: list[PreparedRow] = []
    first_row_of: dict[str, int] = {}
    for index, row in enumerate(rows):
        number = index + 2
        summary.rows += 1
        try:
            request = EnrollmentRequest.model_validate(row_to_body(row))
        except RowError as error:
            summary.rejected.append(RejectedRow(number, str(error)))
            continue
        except ValidationError as error:
            problems = field_problems(error.errors(include_input=False))
            text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            summary.rejected.append(RejectedRow(number, text))
            continue
        if request.client_id in first_row_of:
            first = first_row_of[request.client_id]
            summary.rejected.append(RejectedRow(number, f"client_id: repeats row {first}"))
            continue
        first_row_of[request.client_id] = number
        event_id = derived_event_id("import", request.model_dump_json())
        event = answer_event(decide(request, request.screening), event_id=event_id)
        prepared.append(PreparedRow(number, request.client_id, event))
    return prepared


Row = dict[str, str | None]


def read_rows(path: Path) -> tuple[list[str], list[Row]]:
    """The header and the data rows of a CSV or XLSX file, every cell as text."""
    if path.suffix.lower() == ".xlsx":
        return _xlsx_rows(path)
    with path.open(newline="", encoding="utf-8-sig") as source:
        reader = csv.DictReader(source)
        rows = list(reader)
        return list(reader.fieldnames or ()), rows


def _xlsx_rows(path: Path) -> tuple[list[str], list[Row]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        lines = sheet.iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(lines, ())]
        rows = [
            {name: _cell_text(cell) for name, cell in zip(header, line, strict=False) if name}
            for line in lines
            if any(cell is not None for cell in line)
        ]
    finally:
        workbook.close()
    return [name for name in header if name], rows


def _cell_text(cell: object) -> str | None:
    """A typed spreadsheet cell as the text a CSV cell would hold."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


async def sent_event_ids(kafka: KafkaSettings) -> set[str]:
    """The ids of the events iop.enrollment.v1 holds now."""
    ids: set[str] = set()
    await read_table(
        kafka.bootstrap_servers,
        (topics.ENROLLMENT,),
        lambda event: ids.add(event.id),
        name="iop-intake-import",
        timeout_s=60,
    )
    return ids


async def import_csv(
    path: Path | str,
    *,
    kafka: KafkaSettings | None = None,
    progress: Progress | None = None,
    chunk_size: int = 250,
) -> ImportSummary:
    """Validate, screen and publish every row of a CSV file; returns what happened to each row.

    Safe to run again on the same file: rows already on iop.enrollment.v1 are not sent twice.
    """
    kafka = kafka or KafkaSettings()
    summary = ImportSummary()
    header, rows = read_rows(Path(path))
    missing = {"client_id", "region_id"} - set(header)
    if missing:
        raise RowError(f"header: missing columns {', '.join(sorted(missing))}")
    prepared = prepare(iter(rows), summary)

    already = await sent_event_ids(kafka)
    pending = [p for p in prepared if p.event.id not in already]
    summary.already_sent = len(prepared) - len(pending)
    done = summary.already_sent
    if progress:
        progress(done, len(prepared))
    broker = make_broker(kafka, client_id="iop-intake-import")
    await broker.start()
    try:
        for start in range(0, len(pending), chunk_size):
            chunk = pending[start : start + chunk_size]
            # One chunk in flight at a time: aiokafka batches it; each send still waits for acks.
            await asyncio.gather(*(publish_event(broker, p.event) for p in chunk))
            for p in chunk:
                if p.event.type == "iop." + EnrollmentDeclined.event_name:
                    summary.declined += 1
                else:
                    summary.requested += 1
            done += len(chunk)
            if progress:
                progress(done, len(prepared))
    finally:
        # Stopping flushes what is in flight, so a re-run's read of the topic sees it.
        await broker.stop()
    return summary
