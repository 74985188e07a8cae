"""`iop report` reads the running clinic's CSV reports (the clinic applies the key's scope):
written to a file or printed; a site outside the key's scope, a missing key and a clinic that
does not answer each end the command with one line and a non-zero status."""

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from iop_contracts import week_of

from iop.broker import free_port

from .conftest import TODAY, Network, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
async def clinic_url(
    kafka_bootstrap: str, network: Network, pinned_today: date
) -> AsyncIterator[str]:
    await publish(kafka_bootstrap, [*network.roster(), *network.placed("ana")])
    await publish(kafka_bootstrap, network.placed("dee", at=2))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLINIC_", "KAFKA_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        CLINIC_API_KEYS=json.dumps(network.api_keys()),
        CLINIC_ATTENDANCE_GROUP_ID=f"clinic-cli-{network.suffix}",
        IOP_TODAY=pinned_today.isoformat(),
    )
    server = subprocess.Popen(
        [str(BIN / "iop-clinic"), "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_ready(url: str, server: "subprocess.Popen[bytes]") -> None:
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


def iop(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IOP_CLINIC_API_KEY"}
    if key is not None:
        env["IOP_CLINIC_API_KEY"] = key
    return subprocess.run(
        [str(BIN / "iop"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_site_keys_compliance_report_is_written_to_a_file(
    clinic_url: str, network: Network, tmp_path: Path
) -> None:
    out = tmp_path / "compliance.csv"
    week = week_of(TODAY)
    done = iop(
        "report", "compliance", "--week", week, "--url", clinic_url, "--out", str(out),
        key=network.keys["s1"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["client_id"], r["site_id"], r["week"]) for r in rows] == [
        (network.client("ana"), network.site(1), week)
    ]
    assert done.stderr.strip() == f"wrote 1 rows to {out}"


def test_a_network_keys_census_is_printed(clinic_url: str, network: Network) -> None:
    done = iop("report", "census", "--url", clinic_url, key=network.keys["network"])
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    scheduled = {r["site_id"]: int(r["scheduled"]) for r in rows}
    assert scheduled == {network.site(1): 1, network.site(2): 1}


def test_refusals_are_one_line_with_a_non_zero_status(clinic_url: str, network: Network) -> None:
    other_site = iop(
        "report", "utilisation", "--site", network.site(2), "--url", clinic_url,
        key=network.keys["s1"],
    )  # fmt: skip
    assert other_site.returncode == 2
    assert other_site.stderr.strip().splitlines() == [
        f"error: the clinic answered 403: site {network.site(2)} lies outside this key's scope"
    ]
    keyless = iop("report", "waitlist", "--url", clinic_url)
    assert keyless.returncode == 2 and "--api-key" in keyless.stderr
    nobody = iop("report", "waitlist", "--url", f"http://127.0.0.1:{free_port()}", key="k")
    assert nobody.returncode == 1
    assert len(nobody.stderr.strip().splitlines()) == 1 and "did not answer" in nobody.stderr
