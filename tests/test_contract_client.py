"""A client written against CONTRACT.md alone drives `iop up`.

No project code is imported here: roster events are CloudEvents built by hand and published with
raw aiokafka, enrollments go over plain HTTP, and schedules are read back with raw aiokafka. This is
how a provider network's own integration would talk to the system.
"""

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

START = (date.today() + timedelta(days=2)).isoformat()
EVENINGS = [{"day": d, "start": "17:00", "end": "21:30"} for d in ("mon", "tue", "wed", "thu")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cloudevent(event_type: str, subject: str, data: dict[str, Any]) -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/test/contract-client",
        "type": f"iop.{event_type}", "subject": subject,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "datacontenttype": "application/json", "dataschema": f"urn:iop:{event_type}:1",
        "data": data,
    }).encode()  # fmt: skip


ROSTER = [
    ("site.upserted", "site:hq", "hq", {
        "site_id": "hq", "name": "Main Street", "region_id": "east", "timezone": "America/New_York",
        "windows": [*EVENINGS, {"day": "sat", "start": "08:00", "end": "18:00"}]}),
    ("therapist.upserted", "therapist:t-1", "t-1", {
        "therapist_id": "t-1", "name": "Pat Lee", "site_ids": ["hq"], "telehealth": False,
        "credentials": ["LCSW", "LADC"], "modalities": ["relapse_prevention"],
        "populations": ["adult"], "languages": ["en"], "availability": EVENINGS,
        "max_weekly_hours": 25, "max_caseload": 10}),
    ("therapist.upserted", "therapist:t-2", "t-2", {
        "therapist_id": "t-2", "name": "Sky Moss", "site_ids": ["hq"], "telehealth": False,
        "credentials": ["LPC"], "modalities": ["cbt"], "populations": ["adult"],
        "languages": ["en"], "availability": EVENINGS, "max_weekly_hours": 20,
        "max_caseload": 10}),
    ("group.upserted", "group:hq-sud", "hq-sud", {
        "group_id": "hq-sud", "site_id": "hq", "delivery": "in_person", "track": "substance_use",
        "modality": "relapse_prevention", "population": "adult", "gender": "any",
        "language": "en", "capacity": 8,
        "sessions": [{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "thu")],
        "facilitator_id": None, "open_from": START}),
]  # fmt: skip


def enrollment(n: int) -> dict[str, Any]:
    return {
        "client_id": f"cc-{n}", "region_id": "east", "track": "substance_use",
        "population": "adult", "gender": "undisclosed", "language": "en",
        "preferred_site_ids": ["hq"], "accepts_telehealth": False,
        "availability": [{"day": d, "start": "17:00", "end": "21:30"}
                         for d in ("mon", "tue", "wed", "thu")],
        "requested_start": START, "program_weeks": 8, "priority": "routine",
        "contact": {"first_name": "Client", "email": f"client{n}@example.org",
                    "email_consent": True, "sms_consent": False},
    }  # fmt: skip


@pytest.fixture(scope="module")
def iop_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    ports = {name: free_port() for name in ("INTAKE", "SCHEDULER", "NOTIFIER")}
    state = tmp_path_factory.mktemp("iop-up")
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({f"{name}_HTTP_PORT": str(port) for name, port in ports.items()})
    env["IOP_STATE_DIR"] = str(state)
    iop = Path(sys.executable).parent / "iop"
    process = subprocess.Popen(
        [str(iop), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            match = re.match(r"(\w+)\s+(\S+)", line)
            if match:
                printed[match.group(1)] = match.group(2)
            if "logs" in printed:
                break
        assert "broker" in printed, f"iop up printed no broker address (exit {process.poll()})"
        yield {"bootstrap": printed["broker"], "intake": printed["intake"]}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


async def latest_schedules(bootstrap: str, clients: set[str], timeout_s: float) -> dict:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    latest: dict[str, dict[str, Any]] = {}
    try:
        partitions = [TopicPartition("iop.schedule.v1", p) for p in range(6)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(timeout_s):
            while not (
                clients <= set(latest)
                and all(latest[c]["type"] == "iop.client.scheduled" for c in clients)
            ):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        event = json.loads(record.value)
                        assert record.key.decode() == event["data"]["client_id"]
                        assert dict(record.headers)["ce_type"].decode() == event["type"]
                        latest[event["data"]["client_id"]] = event
    finally:
        await consumer.stop()
    return latest


async def drive(endpoints: dict[str, str]) -> dict:
    producer = AIOKafkaProducer(bootstrap_servers=endpoints["bootstrap"], acks="all")
    await producer.start()
    try:
        for event_type, key, subject, data in ROSTER:
            await producer.send_and_wait(
                "iop.roster.v1", cloudevent(event_type, subject, data), key=key.encode(),
                headers=[("content-type", b"application/cloudevents+json; charset=utf-8")],
            )  # fmt: skip
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=endpoints["intake"], timeout=30) as http:
        for n in range(4):
            response = await http.post("/v1/enrollments", json=enrollment(n))
            assert response.status_code == 202, response.text
        invalid = {**enrollment(9), "program_weeks": 40}
        refused = await http.post("/v1/enrollments", json=invalid)
        assert refused.status_code == 422
        assert "program_weeks" in refused.text
    return await latest_schedules(endpoints["bootstrap"], {f"cc-{n}" for n in range(4)}, 90)


def test_a_contract_only_client_enrolls_and_reads_schedules(iop_up: dict[str, str]) -> None:
    latest = asyncio.run(drive(iop_up))
    for client in (f"cc-{n}" for n in range(4)):
        data = latest[client]["data"]
        assert data["group"]["group_id"] == "hq-sud"
        assert data["group"]["facilitator_id"] == "t-1", "only t-1 holds an addiction credential"
        assert data["start_date"] >= START
        assert data["individual"]["therapist_id"] in {"t-1", "t-2"}
        assert data["weekly_hours"] >= 9
    assert "cc-9" not in latest
