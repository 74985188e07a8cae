"""Recording attendance over HTTP against the real broker: one record, a roll call, a
correction; and the refusals that store nothing (a client not expected, a date ahead, minutes
that do not fit)."""

from datetime import timedelta

import httpx
import pytest
from iop_clinic.runtime import ClinicRuntime
from iop_contracts import decode_record, header, topics

from .conftest import LAST_THURSDAY, MONDAY, TODAY, Network, events_of, topic_records

pytestmark = pytest.mark.integration

Clinic = tuple[httpx.AsyncClient, ClinicRuntime]
RECORDED = "iop.attendance.recorded"


def group_record(network: Network, name: str, status: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "client_id": network.client(name),
        "date": MONDAY.isoformat(),
        "kind": "group",
        "group_id": network.group(1),
        "status": status,
    }
    return {**body, **changes}


async def test_one_record_is_on_the_topic_keyed_by_client_and_named_by_the_key(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    body = group_record(seeded, "ana", "present")
    response = await client.post("/v1/attendance", json=body, headers=seeded.key_of("s1"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["minutes_attended"] == 180  # a present client: the evening's three hours
    assert answer["recorded_by"] == "s1-desk"

    records = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    [record] = [r for r in records if header(r.headers, "ce_id") == answer["event_id"]]
    assert record.key == seeded.client("ana").encode()
    data = decode_record(record.value).data
    assert data["region_id"] == seeded.region and data["kind"] == "group"
    assert data["date"] == MONDAY.isoformat() and data["status"] == "present"


async def test_a_correction_supersedes_and_the_client_view_shows_the_latest(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    headers = seeded.key_of("s1")
    first = group_record(seeded, "ben", "present", date=LAST_THURSDAY.isoformat())
    corrected = {**first, "status": "left_early", "minutes_attended": 95}
    assert (await client.post("/v1/attendance", json=first, headers=headers)).status_code == 201
    assert (await client.post("/v1/attendance", json=corrected, headers=headers)).status_code == 201

    view = (await client.get(f"/v1/clients/{seeded.client('ben')}", headers=headers)).json()
    [standing] = [a for a in view["attendance"] if a["date"] == LAST_THURSDAY.isoformat()]
    assert (standing["status"], standing["minutes_attended"]) == ("left_early", 95)
    records = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    mine = [
        e
        for e in events_of(records, seeded.client("ben"), RECORDED)
        if e.data["date"] == LAST_THURSDAY.isoformat()
    ]
    assert [e.data["status"] for e in mine] == ["present", "left_early"]


async def test_a_roll_call_records_every_client_with_default_minutes(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    day = MONDAY - timedelta(days=7)
    roll = [
        {"client_id": seeded.client("ana"), "status": "present"},
        {"client_id": seeded.client("ben"), "status": "absent"},
        {"client_id": seeded.client("cy"), "status": "late", "minutes_attended": 150},
    ]
    url = f"/v1/occurrences/{seeded.group(1)}/{day.isoformat()}/roll-call"
    response = await client.post(url, json=roll, headers=seeded.key_of("s1"))
    assert response.status_code == 201, response.text
    minutes = {r["client_id"]: r["minutes_attended"] for r in response.json()["records"]}
    assert minutes == {seeded.client("ana"): 180, seeded.client("ben"): 0, seeded.client("cy"): 150}

    records = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    for entry in roll:
        [event] = [
            e
            for e in events_of(records, str(entry["client_id"]), RECORDED)
            if e.data["date"] == day.isoformat()
        ]
        assert event.data["status"] == entry["status"]
        assert event.data["group_id"] == seeded.group(1)


async def test_a_roll_call_with_a_client_not_expected_is_refused_whole(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    day = MONDAY - timedelta(days=14)
    roll = [
        {"client_id": seeded.client("ana"), "status": "present"},
        {"client_id": seeded.client("dee"), "status": "present"},  # group 2's member
    ]
    url = f"/v1/occurrences/{seeded.group(1)}/{day.isoformat()}/roll-call"
    response = await client.post(url, json=roll, headers=seeded.key_of("network"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"] == [
        {"field": "1.client_id", "message": f"client {seeded.client('dee')} not expected here"}
    ]
    assert seeded.client("dee") in problem["detail"]

    records = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    on_that_day = [
        e
        for name in ("ana", "dee")
        for e in events_of(records, seeded.client(name), RECORDED)
        if e.data["date"] == day.isoformat()
    ]
    assert on_that_day == []  # not even the expected client's record


async def test_one_record_for_a_day_without_a_session_is_refused_naming_the_client(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    tuesday = MONDAY + timedelta(days=1)
    body = group_record(seeded, "cy", "present", date=tuesday.isoformat())
    response = await client.post("/v1/attendance", json=body, headers=seeded.key_of("s1"))
    assert response.status_code == 422
    assert seeded.client("cy") in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "client_id"
    records = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    assert [
        e
        for e in events_of(records, seeded.client("cy"), RECORDED)
        if e.data["date"] == tuesday.isoformat()
    ] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"date": (TODAY + timedelta(days=1)).isoformat()}, "date"),  # Thursday: not yet held
        ({"status": "late"}, "minutes_attended"),  # late must say how long
        ({"minutes_attended": 181}, "minutes_attended"),  # longer than the evening
        ({"status": "absent", "minutes_attended": 30}, "minutes_attended"),
        ({"status": "asleep"}, "status"),
        ({"group_id": "has space"}, "group_id"),
    ],
)
async def test_a_bad_field_is_named_and_nothing_is_stored(
    clinic: Clinic,
    seeded: Network,
    kafka_bootstrap: str,
    changes: dict[str, object],
    field: str,
) -> None:
    client, _ = clinic
    before = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    body = {**group_record(seeded, "cy", "present", date=TODAY.isoformat()), **changes}
    response = await client.post("/v1/attendance", json=body, headers=seeded.key_of("s1"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    after = await topic_records(kafka_bootstrap, topics.ATTENDANCE)
    assert len(events_of(after, seeded.client("cy"), RECORDED)) == len(
        events_of(before, seeded.client("cy"), RECORDED)
    )


async def test_an_unknown_client_is_404_and_no_key_is_401(clinic: Clinic, seeded: Network) -> None:
    client, _ = clinic
    body = group_record(seeded, "nobody", "present")
    unknown = await client.post("/v1/attendance", json=body, headers=seeded.key_of("network"))
    assert unknown.status_code == 404
    keyless = await client.post("/v1/attendance", json=group_record(seeded, "ana", "present"))
    assert keyless.status_code == 401
    wrong = await client.get("/v1/compliance", headers={"X-API-Key": "not-a-key"})
    assert wrong.status_code == 401


async def test_health_and_the_openapi_page(clinic: Clinic) -> None:
    client, _ = clinic
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.json() == {"status": "ready", "broker": True, "read_model": True, "readers": True}
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/v1/occurrences/{group_id}/{day}/roll-call" in paths
    assert "/v1/reports/{report}.csv" in paths


async def test_an_individual_session_is_recorded_with_the_clients_own_therapist(
    clinic: Clinic, seeded: Network, kafka_bootstrap: str
) -> None:
    client, _ = clinic
    saturday = MONDAY - timedelta(days=2)  # every client's individual hour
    url = f"/v1/clients/{seeded.client('cy')}/sessions/{saturday.isoformat()}/individual"
    response = await client.post(url, json={"status": "present"}, headers=seeded.key_of("s1"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["kind"], answer["minutes_attended"]) == ("individual", 60)
    assert (answer["therapist_id"], answer["group_id"]) == (seeded.therapist, None)
    sunday = (saturday + timedelta(days=1)).isoformat()
    url = f"/v1/clients/{seeded.client('cy')}/sessions/{sunday}/individual"
    refused = await client.post(url, json={"status": "present"}, headers=seeded.key_of("s1"))
    assert refused.status_code == 422


async def test_a_body_too_large_is_413_before_it_is_read(clinic: Clinic, seeded: Network) -> None:
    client, _ = clinic
    roll = [{"client_id": seeded.client("ana"), "status": "present"}] * 10_000
    url = f"/v1/occurrences/{seeded.group(1)}/{MONDAY.isoformat()}/roll-call"
    response = await client.post(url, json=roll, headers=seeded.key_of("s1"))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "(body)"


async def test_an_unknown_path_is_a_problem_too(clinic: Clinic, seeded: Network) -> None:
    client, _ = clinic
    response = await client.get("/v1/nothing-here", headers=seeded.key_of("s1"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
