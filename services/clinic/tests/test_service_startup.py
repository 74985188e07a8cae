"""Safe by default, like intake: the clinic refuses to start with authentication off unless told
so, in one line; a raw key pasted into CLINIC_API_KEYS is refused without being printed; the
deployable app logs JSON through the allow-list, no access log, and no first name, email or
phone in any line (the read model holds first names)."""

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from iop_clinic.app import create_app, startup_refusal
from iop_clinic.settings import ClinicSettings

from iop.broker import free_port

from .conftest import MONDAY, Network, publish

BIN = Path(sys.executable).parent
NO_BROKER = "127.0.0.1:1"


@pytest.fixture(autouse=True)
def no_clinic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLINIC_API_KEYS", "CLINIC_AUTH_DISABLED"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """create_app configures the process's logging; the test process gets its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _env(bootstrap: str = NO_BROKER, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLINIC_", "KAFKA_"))}
    return {**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, **changes}


def test_no_keys_and_no_explicit_flag_is_refused_and_both_at_once_too() -> None:
    refusal = startup_refusal(ClinicSettings())
    assert refusal is not None
    assert "CLINIC_API_KEYS" in refusal and "CLINIC_AUTH_DISABLED=true" in refusal
    keys = {"a" * 64: {"name": "bos", "network": True}}
    assert startup_refusal(ClinicSettings(api_keys=keys)) is None
    assert startup_refusal(ClinicSettings(auth_disabled=True)) is None
    both = startup_refusal(ClinicSettings(api_keys=keys, auth_disabled=True))
    assert both is not None and "choose one" in both


@pytest.mark.usefixtures("restored_logging")
def test_create_app_exits_instead_of_building_an_open_app() -> None:
    with pytest.raises(SystemExit) as refused:
        create_app(ClinicSettings())
    assert str(refused.value).startswith("iop-clinic refuses to start: authentication is off")
    app = create_app(ClinicSettings(auth_disabled=True))
    assert app.state.clinic.keyring.enabled is False


def test_iop_clinic_run_refuses_with_one_line_and_a_non_zero_status() -> None:
    done = subprocess.run(
        [str(BIN / "iop-clinic"), "run", "--port", str(free_port())],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("iop-clinic refuses to start: authentication is off")


def test_a_key_pasted_raw_is_refused_in_one_line_without_echoing_it() -> None:
    done = subprocess.run(
        [str(BIN / "iop-clinic"), "run", "--port", str(free_port())],
        env=_env(CLINIC_API_KEYS='{"my-raw-api-key": {"name": "x", "network": true}}'),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "CLINIC_API_KEYS" in done.stderr and "my-raw-api-key" not in done.stderr


@pytest.mark.integration
@pytest.mark.slow
async def test_the_running_service_logs_json_without_personal_data_or_request_paths(
    kafka_bootstrap: str, network: Network, pinned_today: object
) -> None:
    """`iop-clinic run` on the broker: a client (first name, email, phone on the enrollment)
    is read, looked up and recorded; no line holds the name, the email, the phone or a path."""
    await publish(kafka_bootstrap, [*network.roster(), *network.placed("zebulon")])
    port = free_port()
    env = _env(kafka_bootstrap, CLINIC_AUTH_DISABLED="true", IOP_TODAY=str(pinned_today))
    env["CLINIC_LOG_LEVEL"] = "DEBUG"
    env["CLINIC_ATTENDANCE_GROUP_ID"] = f"clinic-logs-{network.suffix}"
    server = subprocess.Popen(
        [str(BIN / "iop-clinic"), "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client_id = network.client("zebulon")
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, server)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            view = await http.get(f"/v1/clients/{client_id}")
            assert view.json()["first_name"] == "Zebulon"
            tuesday = (MONDAY + timedelta(days=1)).isoformat()  # no session: refused
            bad = {"client_id": client_id, "date": tuesday, "status": "present"}
            assert (await http.post("/v1/attendance", json=bad)).status_code == 422
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # a plain-text line would not parse
    assert {entry["service"] for entry in entries} == {"clinic"}
    assert any("CLINIC_AUTH_DISABLED=true" in entry["msg"] for entry in entries)
    text = out + err
    for personal in ("Zebulon", f"{client_id}@example.org", "+16175550101"):
        assert personal not in text
    assert "GET /" not in text and "POST /" not in text


def _wait_ready(url: str, server: "subprocess.Popen[str]") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "iop-clinic exited"
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the clinic did not become ready")
