"""POST /v1/enrollments/{id}/extend: a scheduled client's programme lengthened by a treatment-plan
review becomes `enrollment.extended` (scoped like withdraw, idempotent); anything else is
refused with nothing published."""

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from iop_contracts import decode_record, topics
from iop_intake.runtime import Intake

from .test_http_api import mine, publish_schedule, wait_for_status

pytestmark = pytest.mark.integration


async def test_a_scheduled_clients_programme_is_extended_once(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Callable[..., dict[str, Any]],
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    body = enrollment()
    cid = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body)).status_code == 202
    waiting = await client.post(f"/v1/enrollments/{cid}/extend", json={"program_weeks": 12})
    assert waiting.status_code == 409, "only a scheduled client's programme can be extended"
    await publish_schedule(kafka_bootstrap, cid)
    view = await wait_for_status(client, cid, "scheduled")
    start, end = (date.fromisoformat(view["schedule"][k]) for k in ("start_date", "end_date"))
    weeks = ((end - start).days + 1) // 7
    shorter = await client.post(f"/v1/enrollments/{cid}/extend", json={"program_weeks": weeks})
    assert shorter.status_code == 409 and str(weeks) in shorter.json()["detail"]
    assert (
        await client.post(f"/v1/enrollments/{cid}/extend", json={"program_weeks": 40})
    ).status_code == 422
    headers = {"Idempotency-Key": f"review-{cid}"}
    extend = {"program_weeks": weeks + 4}
    first = await client.post(f"/v1/enrollments/{cid}/extend", json=extend, headers=headers)
    again = await client.post(f"/v1/enrollments/{cid}/extend", json=extend, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await client.post("/v1/enrollments/nobody-x/extend", json=extend)).status_code == 404
    records = mine(await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), cid)
    extended = [decode_record(r.value) for r in records]
    extended = [e for e in extended if e.type == "iop.enrollment.extended"]
    assert len(extended) == 1
    assert extended[0].data == {
        "client_id": cid,
        "region_id": body["region_id"],
        "program_weeks": weeks + 4,
    }
