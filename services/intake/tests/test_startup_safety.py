"""Safe by default: intake refuses to start with authentication off unless told so, in one line;
the deployable app logs JSON through the allow-list and keeps no access log, whichever way it is
started (`iop-intake run`, `uvicorn iop_intake.app:create_app --factory`)."""

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from iop_intake.app import create_app, startup_refusal
from iop_intake.settings import IntakeSettings

from iop.broker import free_port

KEY_HASH = "a" * 64
BIN = Path(sys.executable).parent
NO_BROKER = "127.0.0.1:1"


@pytest.fixture(autouse=True)
def no_intake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INTAKE_API_KEYS", "INTAKE_AUTH_DISABLED"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """create_app configures the process's logging; the test process gets its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "KAFKA_"))}
    return {**env, "KAFKA_BOOTSTRAP_SERVERS": NO_BROKER, **changes}


def test_no_keys_and_no_explicit_flag_is_refused() -> None:
    refusal = startup_refusal(IntakeSettings())
    assert refusal is not None
    assert "INTAKE_API_KEYS" in refusal and "INTAKE_AUTH_DISABLED=true" in refusal
    assert "docs/security-platform.md" in refusal


def test_keys_or_the_explicit_flag_start_and_both_at_once_are_refused() -> None:
    keys = {KEY_HASH: {"name": "bos", "network": True}}
    assert startup_refusal(IntakeSettings(api_keys=keys)) is None
    assert startup_refusal(IntakeSettings(auth_disabled=True)) is None
    both = startup_refusal(IntakeSettings(api_keys=keys, auth_disabled=True))
    assert both is not None and "choose one" in both


@pytest.mark.usefixtures("restored_logging")
def test_create_app_exits_instead_of_building_an_open_app() -> None:
    with pytest.raises(SystemExit) as refused:
        create_app(IntakeSettings())
    assert str(refused.value).startswith("iop-intake refuses to start: authentication is off")
    app = create_app(IntakeSettings(auth_disabled=True))
    assert app.state.intake.keyring.enabled is False


def test_iop_intake_run_refuses_with_one_line_and_a_non_zero_status() -> None:
    done = subprocess.run(
        [str(BIN / "iop-intake"), "run", "--port", str(free_port())],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("iop-intake refuses to start: authentication is off")


def test_a_key_pasted_raw_is_refused_in_one_line_without_echoing_it() -> None:
    raw = '{"my-raw-api-key": {"name": "x", "network": true}}'
    for value in (raw, raw[:-1]):  # not a digest; not even JSON
        done = subprocess.run(
            [str(BIN / "iop-intake"), "run", "--port", str(free_port())],
            env=_env(INTAKE_API_KEYS=value),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "api_keys" in done.stderr and "my-raw-api-key" not in done.stderr


@pytest.mark.slow
def test_uvicorn_factory_logs_json_only_and_no_request_paths() -> None:
    """Started the way a container might start it, every line is our JSON and a request for a
    client's status leaves no trace of its path (client ids) in the log."""
    port = free_port()
    server = subprocess.Popen(
        [
            *(str(BIN / "uvicorn"), "iop_intake.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        env=_env(INTAKE_AUTH_DISABLED="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_live(f"http://127.0.0.1:{port}", server)
        httpx.get(f"http://127.0.0.1:{port}/v1/enrollments/c-path-secret-42", timeout=5)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert lines, "the server said nothing at all"
    entries = [json.loads(line) for line in lines]  # a plain-text line would not parse
    assert {entry["service"] for entry in entries} == {"intake"}
    assert any("INTAKE_AUTH_DISABLED=true" in entry["msg"] for entry in entries)
    assert "c-path-secret-42" not in out + err
    assert "GET /" not in out + err


def _wait_live(url: str, server: "subprocess.Popen[str]") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "uvicorn exited"
        try:
            if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("intake did not come up")
