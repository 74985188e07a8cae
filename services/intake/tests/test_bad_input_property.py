"""Generated bad requests never get a 5xx and never publish anything."""

import copy
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from iop_contracts import CloudEvent
from iop_intake.adapters.publisher import EventPublisher
from iop_intake.domain.admission import EnrollmentRequest
from iop_intake.runtime import Intake
from pydantic import ValidationError

from .conftest import SAMPLE, SUITED_SCREENING

pytestmark = pytest.mark.integration

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = [*SAMPLE, "screening"]
NESTED = [
    "contact.email",
    "contact.phone",
    "contact.first_name",
    "availability.0.start",
    "availability.0.day",
    "screening.prior_level",
    "screening.imminent_risk",
]


def is_invalid(body: Any) -> bool:
    try:
        EnrollmentRequest.model_validate(body)
    except ValidationError:
        return True
    return False


def with_value(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy({**SAMPLE, "screening": SUITED_SCREENING})
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return body


def without(path: str) -> dict[str, Any]:
    body = copy.deepcopy({**SAMPLE, "screening": SUITED_SCREENING})
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return body


wrong_values = st.builds(with_value, st.sampled_from(FIELDS + NESTED), json_values)
missing_fields = st.builds(
    without,
    st.sampled_from(
        [
            f
            for f in SAMPLE
            if f
            in {
                "client_id",
                "region_id",
                "track",
                "population",
                "language",
                "availability",
                "requested_start",
                "program_weeks",
                "contact",
            }
        ]
        + ["contact.first_name", "screening.prior_level"]
    ),
)
out_of_range = st.one_of(
    st.builds(
        lambda n: with_value("program_weeks", n), st.integers().filter(lambda n: not 2 <= n <= 16)
    ),
    st.builds(
        lambda t: with_value("availability.0.end", t),
        st.sampled_from(["24:00", "9:00", "17:29", "noon"]),
    ),
    st.builds(
        lambda d: with_value("requested_start", d), st.sampled_from(["2026-02-30", "tomorrow", ""])
    ),
    st.builds(
        lambda n: with_value("preferred_site_ids", [f"s{i}" for i in range(n)]), st.integers(21, 60)
    ),
)
json_bodies = (
    st.one_of(wrong_values, missing_fields, out_of_range)
    .filter(is_invalid)
    .map(lambda body: json.dumps(body).encode())
)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=1, max_size=50).map(lambda b: b'{"client_id": "' + b + b'\xff\xfe"}'),
    st.integers(70_000, 300_000).map(lambda n: b'{"pad": "' + b"x" * n + b'"}'),
    st.integers(1_000, 60_000).map(lambda n: b"[" * n),
    json_values.map(lambda v: json.dumps(v).encode()),
)


class CountingPublisher:
    """Wraps intake's publisher: every publish attempt, acknowledged or not, is counted."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.attempts = 0

    async def publish(self, event: CloudEvent) -> None:
        self.attempts += 1
        await self.inner.publish(event)


def counting(intake: Intake) -> CountingPublisher:
    if not isinstance(intake.publisher, CountingPublisher):
        intake.publisher = CountingPublisher(intake.publisher)
    return intake.publisher


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.one_of(json_bodies, raw_bodies))
async def test_bad_bodies_never_5xx_and_never_publish(
    http_intake: tuple[httpx.AsyncClient, Intake], body: bytes
) -> None:
    client, intake = http_intake
    assume(not _accidentally_valid(body))
    publisher = counting(intake)
    before = publisher.attempts
    response = await client.post(
        "/v1/enrollments", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert publisher.attempts == before


def _accidentally_valid(body: bytes) -> bool:
    try:
        return not is_invalid(json.loads(body))
    except (ValueError, RecursionError):
        return False


async def test_the_counting_spy_sees_a_valid_publish(
    http_intake: tuple[httpx.AsyncClient, Intake], enrollment: Any
) -> None:
    """The property above would pass vacuously if the spy missed publishes: check it does not."""
    client, intake = http_intake
    publisher = counting(intake)
    before = publisher.attempts
    assert (await client.post("/v1/enrollments", json=enrollment())).status_code == 202
    assert publisher.attempts == before + 1
