"""API keys: presented as `X-API-Key: <key>` or `Authorization: Bearer <key>`, held hashed."""

from fastapi import Request

from iop_intake.domain.access import Principal
from iop_intake.errors import Unauthenticated
from iop_intake.runtime import Intake


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


def principal_of(request: Request) -> Principal:
    intake: Intake = request.app.state.intake
    principal = intake.keyring.principal(presented_key(request))
    if principal is None:
        raise Unauthenticated("no valid API key")
    return principal
