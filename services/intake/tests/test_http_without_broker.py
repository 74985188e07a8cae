"""The HTTP API with no broker reachable: 503 with Retry-After, not ready, limits, OpenAPI."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from iop_intake.runtime import Intake

from iop.broker import free_port

from .conftest import intake_settings, running_intake


@pytest.fixture(scope="module")
async def no_broker() -> AsyncIterator[tuple[httpx.AsyncClient, Intake]]:
    settings = intake_settings(f"127.0.0.1:{free_port()}", shutdown_timeout_s=1.0)
    async with running_intake(settings, wait_ready=False) as running:
        yield running


async def test_an_enrollment_gets_503_with_retry_after_while_kafka_is_not_there(
    no_broker: tuple[httpx.AsyncClient, Intake], enrollment: Callable[..., dict[str, Any]]
) -> None:
    client, _ = no_broker
    response = await client.post("/v1/enrollments", json=enrollment())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    ready = await client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["broker"] is False
    assert (await client.get("/health/live")).status_code == 200


async def test_status_reads_are_503_until_the_projection_is_rebuilt(
    no_broker: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = no_broker
    assert (await client.get("/v1/enrollments/c-1")).status_code == 503
    assert (await client.post("/v1/enrollments/c-1/withdraw")).status_code == 503


async def test_a_body_over_the_limit_is_413_even_without_content_length(
    no_broker: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = no_broker
    huge = b'{"pad": "' + b"x" * 100_000 + b'"}'
    sized = await client.post("/v1/enrollments", content=huge)
    assert sized.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    streamed = await client.post("/v1/enrollments", content=chunks())
    assert streamed.status_code == 413


async def test_openapi_documents_the_api_and_the_screening_disclaimer(
    no_broker: tuple[httpx.AsyncClient, Intake],
) -> None:
    client, _ = no_broker
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["paths"]) >= {
        "/v1/enrollments",
        "/v1/enrollments/{client_id}/withdraw",
        "/v1/clients/{client_id}/discharge",
        "/v1/enrollments/{client_id}",
    }
    assert "clinician" in spec["paths"]["/v1/enrollments"]["post"]["description"]
