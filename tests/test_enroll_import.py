"""`iop enroll import FILE.csv` publishes a site's backlog through intake's import, resumably."""

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from iop_contracts import topics
from iop_intake.importer import COLUMNS

from iop.observe import read_events

pytestmark = pytest.mark.integration

ROW = {
    "region_id": "ne", "track": "mental_health", "population": "adult", "gender": "man",
    "language": "en", "preferred_site_ids": "bos-1", "accepts_telehealth": "false",
    "gender_specific_group": "false", "availability": "tue 17:00-21:30; thu 17:00-21:30",
    "requested_start": "2026-12-01", "program_weeks": "6", "priority": "routine",
    "indicated_modalities": "", "first_name": "Sam", "email": "sam@example.org", "phone": "",
    "email_consent": "true", "sms_consent": "false",
}  # fmt: skip


def run_import(path: Path, bootstrap: str) -> subprocess.CompletedProcess[str]:
    iop = Path(sys.executable).parent / "iop"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run(
        [str(iop), "enroll", "import", str(path)], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_import_reports_the_bad_row_publishes_the_rest_once(
    kafka_bootstrap: str, tmp_path: Path, unique: str
) -> None:
    path = tmp_path / "backlog.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerow({**ROW, "client_id": f"imp-{unique}-1"})
        writer.writerow({**ROW, "client_id": f"imp-{unique}-2", "program_weeks": "40"})
        writer.writerow({**ROW, "client_id": f"imp-{unique}-3"})

    first = run_import(path, kafka_bootstrap)
    assert first.returncode == 1, "a rejected row makes the exit code 1"
    assert "row 3" in first.stderr and "program_weeks" in first.stderr
    assert "sam@example.org" not in first.stdout + first.stderr

    second = run_import(path, kafka_bootstrap)
    assert second.returncode == 1

    ours = {f"imp-{unique}-1", f"imp-{unique}-3"}
    events = asyncio.run(
        read_events(
            kafka_bootstrap, topics.ENROLLMENT,
            lambda seen: ours <= {e.subject for e in seen}, timeout_s=20,
        )
    )  # fmt: skip
    published = [e.subject for e in events if (e.subject or "").startswith(f"imp-{unique}")]
    assert sorted(published) == sorted(ours), "each good row once, also after a re-run"
