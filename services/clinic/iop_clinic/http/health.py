"""Liveness (every Kafka reading task still runs) and readiness (broker connected, read model
caught up with the topics)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from iop_clinic.http.auth import Runtime

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live(runtime: Runtime) -> JSONResponse:
    if not runtime.readers_alive():
        return JSONResponse({"status": "a Kafka reading task stopped"}, status_code=500)
    return JSONResponse({"status": "live"})


@router.get("/health/ready")
async def ready(runtime: Runtime) -> JSONResponse:
    checks = runtime.readiness()
    return JSONResponse(
        {"status": "ready" if all(checks.values()) else "not ready", **checks},
        status_code=200 if all(checks.values()) else 503,
    )
