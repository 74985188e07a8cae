"""API keys: presented as `X-API-Key: <key>` or `Authorization: Bearer <key>`, held hashed."""

from fastapi import Request
from iop_contracts.access import Principal, presented_key

from iop_intake.errors import Unauthenticated
from iop_intake.runtime import Intake


def principal_of(request: Request) -> Principal:
    intake: Intake = request.app.state.intake
    principal = intake.keyring.principal(presented_key(request.headers))
    if principal is None:
        raise Unauthenticated("no valid API key")
    return principal
