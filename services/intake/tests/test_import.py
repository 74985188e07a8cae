"""Bulk import: 5,000 rows with 2% bad, interrupted mid-flight and run again."""

import asyncio
import csv
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import decode_record, topics
from iop_contracts.kafka import KafkaSettings
from iop_intake.importer import COLUMNS, import_csv, row_to_body

pytestmark = pytest.mark.integration

ROWS = 5_000
GOOD_ROW = {
    "region_id": "ne",
    "track": "substance_use",
    "population": "adult",
    "gender": "woman",
    "language": "en",
    "preferred_site_ids": "bos-1;bos-2",
    "accepts_telehealth": "true",
    "gender_specific_group": "false",
    "availability": "mon 17:30-22:00; sat 09:00-13:00",
    "requested_start": "2026-12-01",
    "program_weeks": "8",
    "priority": "routine",
    "indicated_modalities": "dbt",
    "first_name": "Ana",
    "email": "ana@example.org",
    "phone": "+16175550101",
    "email_consent": "true",
    "sms_consent": "false",
}
# How a row goes bad, and the column the report must name.
SPOILERS: list[tuple[str, dict[str, str]]] = [
    ("program_weeks", {"program_weeks": "40"}),
    ("contact.email", {"email": "ana-at-example"}),
    ("contact.phone", {"phone": "617 555 0101"}),
    ("availability.1", {"availability": "mon 17:30-22:00; saturday morning"}),
    ("track", {"track": "gambling"}),
    ("screening.prior_level", {"needs_medical_detox": "false"}),  # a partial screening block
]


def write_backlog(path: Path, unique: str) -> set[int]:
    """The CSV file, and the spreadsheet row numbers of its bad rows."""
    rng = random.Random(5)
    bad_rows = set(rng.sample(range(2, ROWS + 2), ROWS // 50))
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row_number in range(2, ROWS + 2):
            row = {**GOOD_ROW, "client_id": f"c-{unique}-{row_number}"}
            if row_number % 97 == 0:  # a few screened rows, one of them declined
                row.update(
                    needs_medical_detox=str(row_number % 2 == 0).lower(),
                    needs_24h_supervision="false",
                    imminent_risk="false",
                    medically_stable="true",
                    stable_living_environment="true",
                    prior_level="php",
                )
            if row_number in bad_rows:
                row.update(SPOILERS[row_number % len(SPOILERS)][1])
            writer.writerow(row)
    return bad_rows


def test_a_row_becomes_a_request_body() -> None:
    body = row_to_body({**GOOD_ROW, "client_id": "c-1", "needs_medical_detox": ""})
    assert body["preferred_site_ids"] == ["bos-1", "bos-2"]
    assert body["availability"][1] == {"day": "sat", "start": "09:00", "end": "13:00"}
    assert body["contact"]["phone"] == "+16175550101"
    assert "screening" not in body


async def test_import_reports_exactly_the_bad_rows_and_publishes_the_rest_once_across_a_rerun(
    kafka_bootstrap: str, tmp_path: Path, unique: str, topic_records: Callable[..., Any]
) -> None:
    path = tmp_path / "backlog.csv"
    bad_rows = write_backlog(path, unique)
    kafka = KafkaSettings().model_copy(update={"bootstrap_servers": kafka_bootstrap})

    # Interrupt the first run mid-flight: cancel it as its third chunk starts sending.
    reports: list[int] = []
    tasks: list[asyncio.Task[Any]] = []

    def interrupt_after_two_chunks(done: int, _: int) -> None:
        reports.append(done)
        if len(reports) == 3:
            tasks[0].cancel()

    tasks.append(
        asyncio.create_task(
            import_csv(path, kafka=kafka, progress=interrupt_after_two_chunks, chunk_size=500)
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    interrupted = await topic_records(kafka_bootstrap, topics.ENROLLMENT, None)
    assert 0 < len(interrupted) < ROWS - len(bad_rows)

    summary = await import_csv(path, kafka=kafka)
    assert {r.row for r in summary.rejected} == bad_rows
    for rejected in summary.rejected:
        expected_field = SPOILERS[rejected.row % len(SPOILERS)][0]
        assert expected_field + ":" in rejected.problem, rejected
        assert "ana-at-example" not in rejected.problem and "617 555" not in rejected.problem
    assert summary.already_sent == len(interrupted)
    assert summary.requested + summary.declined + summary.already_sent == ROWS - len(bad_rows)

    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT, None)
    events = [decode_record(r.value) for r in records]
    clients = [e.subject for e in events]
    assert len(clients) == len(set(clients)) == ROWS - len(bad_rows)
    assert {f"c-{unique}-{n}" for n in bad_rows}.isdisjoint(clients)
    declined = [e for e in events if e.type == "iop.enrollment.declined"]
    assert declined and all(e.data["recommended_level"] == "inpatient" for e in declined)

    again = await import_csv(path, kafka=kafka)
    assert again.already_sent == ROWS - len(bad_rows)
    assert again.requested == again.declined == 0


async def test_an_xlsx_backlog_with_typed_cells_imports_like_csv(
    kafka_bootstrap: str, tmp_path: Path, unique: str, topic_records: Callable[..., Any]
) -> None:
    from datetime import date

    from openpyxl import Workbook

    typed = {
        **GOOD_ROW,
        "accepts_telehealth": True,  # spreadsheet booleans, numbers and dates, not text
        "gender_specific_group": False,
        "requested_start": date(2026, 12, 1),
        "program_weeks": 8,
        "email_consent": True,
        "sms_consent": False,
    }
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    rows = [
        {**typed, "client_id": f"x-{unique}-1"},
        {**typed, "client_id": f"x-{unique}-2", "program_weeks": 40},
        {**typed, "client_id": f"x-{unique}-3", "needs_medical_detox": False,
         "needs_24h_supervision": False, "imminent_risk": False, "medically_stable": True,
         "stable_living_environment": True, "prior_level": "none", "indicated_weekly_hours": 4},
    ]  # fmt: skip
    for row in rows:
        sheet.append([row.get(column) for column in COLUMNS])
    path = tmp_path / "backlog.xlsx"
    workbook.save(path)
    kafka = KafkaSettings().model_copy(update={"bootstrap_servers": kafka_bootstrap})

    summary = await import_csv(path, kafka=kafka)

    assert [(r.row, r.problem.split(":")[0]) for r in summary.rejected] == [(3, "program_weeks")]
    assert (summary.requested, summary.declined) == (1, 1)
    events = [
        decode_record(r.value)
        for r in await topic_records(kafka_bootstrap, topics.ENROLLMENT, None)
    ]
    ours = {e.subject: e for e in events if (e.subject or "").startswith(f"x-{unique}")}
    assert ours[f"x-{unique}-1"].data["requested_start"] == "2026-12-01"
    assert ours[f"x-{unique}-1"].data["accepts_telehealth"] is True
    assert ours[f"x-{unique}-3"].type == "iop.enrollment.declined"
    assert ours[f"x-{unique}-3"].data["recommended_level"] == "outpatient"
