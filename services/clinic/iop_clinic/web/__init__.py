"""The staff board: the clinic's read model as server-rendered pages under /board.

Staff sign in with their API key (the same keys and scopes as the JSON API), which becomes a
signed, HttpOnly, SameSite=Strict session cookie with an expiry (session.py); every form carries
a CSRF token. A site key sees its sites, a network or region key every site it covers and can
switch between them. Pages: the week at a site, a group meeting's roll call, the week's hours
compliance (with make-up requests and consecutive-absence alerts), the waitlist and capacity,
and a client's page. Jinja2 templates, one small stylesheet and one small script (no build
step); ids and first names only, nothing personal logged.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from iop_clinic.settings import ClinicSettings
from iop_clinic.web.routes import router
from iop_clinic.web.session import Signer, secret_of

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: ClinicSettings) -> None:
    """Mount the board on the clinic's app."""
    secret = settings.session_secret
    app.state.board_signer = Signer(secret_of(secret.get_secret_value() if secret else None))
    app.include_router(router)
    app.mount("/board/static", StaticFiles(directory=STATIC), name="board-static")


__all__ = ["install"]
