"""POST /v1/enrollments against the real broker: the event, its key and headers; bad input."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from iop_contracts import CONTENT_TYPE, decode_record, header, topics
from iop_contracts.logs import JsonFormatter
from iop_intake.runtime import Intake

pytestmark = pytest.mark.integration


def records_of(records: list[Any], client_id: str) -> list[Any]:
    return [r for r in records if client_id.encode() in r.value]


async def test_accepted_enrollment_is_on_the_topic_keyed_by_region_with_headers(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Callable[..., dict[str, Any]],
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    body = enrollment(region_id="ne")
    response = await client.post("/v1/enrollments", json=body)
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]

    # The 202 came after the broker's ack, so the record is already within the end offsets.
    mine = records_of(
        await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), body["client_id"]
    )
    assert len(mine) == 1
    record = mine[0]
    assert record.key == b"ne"
    assert header(record.headers, "content-type") == CONTENT_TYPE
    assert header(record.headers, "ce_id") == event_id
    assert header(record.headers, "ce_type") == "iop.enrollment.requested"
    event = decode_record(record.value)
    assert event.id == event_id
    assert event.subject == body["client_id"]
    assert event.data["contact"]["email"] == "ana@example.org"
    assert "screening" not in event.data


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("program_weeks", lambda b: b.update(program_weeks=17)),
        ("track", lambda b: b.update(track="gambling")),
        ("availability.0.end", lambda b: b["availability"][0].update(end="25:00")),
        ("contact.email", lambda b: b["contact"].update(email="not-an-address")),
        ("contact.phone", lambda b: b["contact"].update(phone="617-555-0101")),
        ("region_id", lambda b: b.pop("region_id")),
        ("client_id", lambda b: b.update(client_id="has space")),
    ],
)
async def test_a_bad_field_is_named_in_a_422_and_nothing_is_published(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Callable[..., dict[str, Any]],
    topic_records: Callable[..., Any],
    field: str,
    change: Callable[[dict[str, Any]], None],
) -> None:
    client, _ = http_intake
    body = enrollment()
    marker = "Marker-" + body["client_id"]  # findable in a record even if client_id is bad
    body["contact"]["first_name"] = marker
    change(body)
    response = await client.post("/v1/enrollments", json=body)
    assert response.status_code == 422, response.text
    fields = [problem["field"] for problem in response.json()["detail"]]
    assert field in fields
    # No value is echoed back: the answer names fields, never personal data.
    assert "not-an-address" not in response.text and "617-555-0101" not in response.text

    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT, None)
    assert records_of(records, marker) == []


async def test_every_bad_field_is_named(
    http_intake: tuple[httpx.AsyncClient, Intake], enrollment: Callable[..., dict[str, Any]]
) -> None:
    client, _ = http_intake
    body = enrollment(program_weeks=1, language="English", priority="asap")
    response = await client.post("/v1/enrollments", json=body)
    assert response.status_code == 422
    fields = {problem["field"] for problem in response.json()["detail"]}
    assert {"program_weeks", "language", "priority"} <= fields


async def test_health(http_intake: tuple[httpx.AsyncClient, Intake]) -> None:
    client, _ = http_intake
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "broker": True, "projection": True, "readers": True}


async def test_no_personal_data_reaches_the_logs(
    http_intake: tuple[httpx.AsyncClient, Intake],
    enrollment: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _ = http_intake
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="iop_intake")
    body = enrollment()
    body["contact"] = {
        "first_name": "Zebulon",
        "email": "zebulon@example.org",
        "phone": "+16175550199",
        "email_consent": True,
    }
    assert (await client.post("/v1/enrollments", json=body)).status_code == 202
    bad = {**body, "contact": {**body["contact"], "email": "zebulon-at-example"}}
    assert (await client.post("/v1/enrollments", json=bad)).status_code == 422

    emitted = "\n".join(JsonFormatter("intake").format(r) for r in caplog.records)
    assert body["client_id"] in emitted  # ids are logged...
    for value in ("Zebulon", "zebulon@example.org", "+16175550199", "zebulon-at-example"):
        assert value not in emitted and value not in caplog.text  # ...personal data is not
