"""A site key reads and writes only its own site's attendance: another site's clients and
occurrences are 403, and so are unknown ones (one answer, which tells nothing of what exists
elsewhere); a named site outside its scope is 403 too, and nothing is published on a refusal.
A network key sees every site; reports follow the same scope."""

import csv
import io
from datetime import timedelta

import httpx
import pytest
from iop_clinic.runtime import ClinicRuntime
from iop_contracts import topics, week_of

from .conftest import MONDAY, TODAY, Network, topic_records

pytestmark = pytest.mark.integration

Clinic = tuple[httpx.AsyncClient, ClinicRuntime]
WEEK = week_of(TODAY)


async def attendance_count(bootstrap: str) -> int:
    return len(await topic_records(bootstrap, topics.ATTENDANCE))


async def test_a_site_key_cannot_write_another_sites_attendance_and_nothing_is_published(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    s2 = seeded.key_of("s2")
    before = await attendance_count(kafka_bootstrap)
    one = {
        "client_id": seeded.client("ana"),
        "date": MONDAY.isoformat(),
        "group_id": seeded.group(1),
        "status": "absent",
    }
    assert (await client.post("/v1/attendance", json=one, headers=s2)).status_code == 403
    roll = [{"client_id": seeded.client("ana"), "status": "absent"}]
    url = f"/v1/occurrences/{seeded.group(1)}/{MONDAY.isoformat()}/roll-call"
    assert (await client.post(url, json=roll, headers=s2)).status_code == 403
    makeup = {"week": WEEK}
    url = f"/v1/clients/{seeded.client('ana')}/makeup"
    assert (await client.post(url, json=makeup, headers=s2)).status_code == 403
    assert await attendance_count(kafka_bootstrap) == before


async def test_a_site_key_cannot_read_another_sites_attendance(
    clinic: Clinic, seeded: Network
) -> None:
    client, _ = clinic
    s2 = seeded.key_of("s2")
    other_site = seeded.site(1)
    assert (await client.get(f"/v1/clients/{seeded.client('ana')}", headers=s2)).status_code == 403
    for path in (
        f"/v1/sites/{other_site}/occurrences",
        f"/v1/compliance?site={other_site}",
        f"/v1/reports/compliance.csv?site={other_site}",
    ):
        response = await client.get(path, headers=s2)
        assert response.status_code == 403, path
        assert other_site in response.json()["detail"]


async def test_out_of_scope_and_unknown_get_the_same_answer(
    clinic: Clinic, seeded: Network
) -> None:
    client, _ = clinic
    s2 = seeded.key_of("s2")
    outside = await client.get(f"/v1/clients/{seeded.client('ana')}", headers=s2)
    unknown = await client.get(f"/v1/clients/{seeded.client('nobody')}", headers=s2)
    assert outside.status_code == unknown.status_code == 403
    assert outside.json()["title"] == unknown.json()["title"]


async def test_a_site_key_reads_its_own_site(clinic: Clinic, seeded: Network) -> None:
    client, _ = clinic
    s1 = seeded.key_of("s1")
    view = await client.get(f"/v1/clients/{seeded.client('ana')}", headers=s1)
    assert view.status_code == 200
    assert view.json()["first_name"] == "Ana"
    assert view.json()["this_week"]["week"] == WEEK
    day = (await client.get(f"/v1/sites/{seeded.site(1)}/occurrences", headers=s1)).json()
    [evening] = day  # Wednesday: group 1 meets, nobody's individual session
    assert evening["group_id"] == seeded.group(1) and evening["date"] == TODAY.isoformat()
    assert set(evening["expected"]) == {seeded.client(n) for n in ("ana", "ben", "cy")}


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_compliance_csv_and_json_hold_only_the_keys_sites(
    clinic: Clinic, seeded: Network
) -> None:
    client, _ = clinic
    own = await client.get(f"/v1/reports/compliance.csv?week={WEEK}", headers=seeded.key_of("s1"))
    assert own.status_code == 200
    assert own.headers["content-type"].startswith("text/csv")
    assert f"compliance-{WEEK}.csv" in own.headers["content-disposition"]
    assert {r["site_id"] for r in csv_rows(own.text)} == {seeded.site(1)}
    assert {r["client_id"] for r in csv_rows(own.text)} == {
        seeded.client(n) for n in ("ana", "ben", "cy")
    }

    everyone = await client.get(
        f"/v1/reports/compliance.csv?week={WEEK}", headers=seeded.key_of("network")
    )
    sites = {r["site_id"] for r in csv_rows(everyone.text)}
    assert {seeded.site(1), seeded.site(2)} <= sites
    json_rows = (
        await client.get(f"/v1/compliance?week={WEEK}", headers=seeded.key_of("s2"))
    ).json()["clients"]
    assert [r["client_id"] for r in json_rows] == [seeded.client("dee")]


@pytest.mark.parametrize("report", ["census", "utilisation", "waitlist"])
async def test_every_report_is_a_csv_within_the_keys_scope(
    clinic: Clinic, seeded: Network, report: str
) -> None:
    client, _ = clinic
    response = await client.get(f"/v1/reports/{report}.csv", headers=seeded.key_of("s2"))
    assert response.status_code == 200
    header, *_ = response.text.splitlines()
    assert header  # the columns, even when there are no rows
    rows = csv_rows(response.text)
    if report != "waitlist":  # a waitlist row is a reason, not a site
        assert rows and {r["site_id"] for r in rows} == {seeded.site(2)}


async def test_bad_query_values_and_an_unknown_site_are_named(
    clinic: Clinic, seeded: Network
) -> None:
    client, _ = clinic
    network = seeded.key_of("network")
    bad_week = await client.get("/v1/compliance?week=2027-53", headers=network)
    assert bad_week.status_code == 422
    assert bad_week.json()["errors"][0]["field"] == "week"
    assert (await client.get("/v1/reports/payroll.csv", headers=network)).status_code == 422
    unknown_site = await client.get("/v1/sites/nowhere/occurrences", headers=network)
    assert unknown_site.status_code == 404
    past = (TODAY - timedelta(days=14)).isoformat()
    url = f"/v1/sites/{seeded.site(1)}/occurrences?date={past}"
    assert (await client.get(url, headers=network)).status_code == 200
