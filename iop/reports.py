"""`iop report`: the clinic's CSV reports, read from its HTTP API (the clinic holds the read
model and applies the key's scope; this command only asks and writes the answer down)."""

import os
from enum import StrEnum

import httpx
from iop_contracts.operator_errors import EXIT_BAD_INPUT, OperatorError

DEFAULT_PORT = 8083


class ReportName(StrEnum):
    COMPLIANCE = "compliance"
    CENSUS = "census"
    UTILISATION = "utilisation"
    WAITLIST = "waitlist"


def default_url() -> str:
    """CLINIC_URL, else the clinic `iop up` starts on this machine."""
    port = os.environ.get("CLINIC_HTTP_PORT") or DEFAULT_PORT
    return os.environ.get("CLINIC_URL") or f"http://127.0.0.1:{port}"


def fetch_report(
    url: str,
    report: ReportName,
    *,
    week: str | None,
    site: str | None,
    api_key: str | None,
    timeout_s: float = 30.0,
) -> str:
    """The report's CSV text; an OperatorError saying what went wrong otherwise."""
    params = {k: v for k, v in {"week": week, "site": site}.items() if v}
    headers = {"X-API-Key": api_key} if api_key else {}
    target = f"{url.rstrip('/')}/v1/reports/{report.value}.csv"
    try:
        response = httpx.get(target, params=params, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise OperatorError(
            f"the clinic at {url} did not answer ({type(error).__name__}); is it running "
            "(iop up), or is CLINIC_URL / --url wrong?"
        ) from None
    if response.status_code == 200:
        return response.text
    raise OperatorError(_refusal(response), _exit_code(response.status_code))


def _refusal(response: httpx.Response) -> str:
    if response.status_code == 401:
        return "the clinic wants an API key: --api-key or IOP_CLINIC_API_KEY"
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = ""
    return f"the clinic answered {response.status_code}: {detail or response.reason_phrase}"


def _exit_code(status: int) -> int:
    return EXIT_BAD_INPUT if 400 <= status < 500 else 1
