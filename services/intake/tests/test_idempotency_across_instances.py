"""An Idempotency-Key is bound to its request body for good: a key reused with another body is
422 from any instance and after any restart, because the body's digest travels in the event
(the `bodydigest` extension attribute) and every intake rebuilds it from the topic."""

from collections.abc import Callable
from typing import Any

import pytest
from iop_contracts import decode_record, topics

from .conftest import intake_settings, running_intake

pytestmark = pytest.mark.integration


async def test_a_key_reused_with_another_body_is_refused_by_a_fresh_instance(
    kafka_bootstrap: str,
    enrollment: Callable[..., dict[str, Any]],
    topic_records: Callable[..., Any],
) -> None:
    first, other = enrollment(), enrollment()
    headers = {"Idempotency-Key": f"retry-{first['client_id']}"}
    async with running_intake(intake_settings(kafka_bootstrap)) as (client, _):
        accepted = await client.post("/v1/enrollments", json=first, headers=headers)
        assert accepted.status_code == 202
    # A restart, or another instance: nothing of the first one's memory is left.
    async with running_intake(intake_settings(kafka_bootstrap)) as (client, _):
        reused = await client.post("/v1/enrollments", json=other, headers=headers)
        assert reused.status_code == 422, reused.text
        assert reused.json()["detail"][0]["field"] == "Idempotency-Key"
        retried = await client.post("/v1/enrollments", json=first, headers=headers)
        assert retried.status_code == 202 and retried.headers["Idempotent-Replayed"] == "true"
    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT, None)
    events = [decode_record(r.value) for r in records]
    mine = [e for e in events if e.subject in (first["client_id"], other["client_id"])]
    assert [e.subject for e in mine] == [first["client_id"]], "published once, the other never"
    assert mine[0].bodydigest is not None
