"""Who is signed in to the board, and what their key reaches.

The same scope rules as the JSON API (http/auth.py): a site, client or group meeting outside a
site or region key's scope is 403 whether it exists or not, and only a network key (to which
nothing lies outside) is told 404 for what does not exist. A refusal holds no data, so guessing
URLs learns nothing."""

from dataclasses import dataclass
from datetime import date

from fastapi import Request
from iop_contracts.access import NETWORK, Principal, Scope

from iop_clinic.domain import ClientView, Clinic, Occurrence, SiteView
from iop_clinic.errors import ClinicError
from iop_clinic.http.auth import reads_client, writes_at
from iop_clinic.runtime import ClinicRuntime
from iop_clinic.web.session import OPEN, SESSION_COOKIE, Session, Signer


class BoardRefusal(ClinicError, PermissionError):
    """A page the board will not show: its status and a sentence without data."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInNeeded(ClinicError, PermissionError):
    """No valid session: the page sends the browser to sign in."""


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member: their key's principal and their session."""

    principal: Principal
    session: Session

    @property
    def scope(self) -> Scope:
        return self.principal.scope


def signer_of(request: Request) -> Signer:
    signer: Signer = request.app.state.board_signer
    return signer


def runtime_of(request: Request) -> ClinicRuntime:
    runtime: ClinicRuntime = request.app.state.clinic
    return runtime


def principal_for(runtime: ClinicRuntime, key: str) -> Principal | None:
    """The principal of a key digest, as configured now (None: no such key any more)."""
    if not runtime.keyring.enabled:
        return Principal(NETWORK.name, NETWORK) if key == OPEN else None
    raw = runtime.settings.api_keys.get(key)
    if raw is None:
        return None
    scope = Scope.model_validate(raw)
    return Principal(scope.name, scope)


def staff_of(request: Request) -> Staff:
    """The signed-in staff member, or SignInNeeded."""
    session = signer_of(request).session(request.cookies.get(SESSION_COOKIE))
    principal = None if session is None else principal_for(runtime_of(request), session.key)
    if session is None or principal is None:
        raise SignInNeeded("no valid board session")
    return Staff(principal, session)


def sites_in_scope(staff: Staff, model: Clinic) -> list[SiteView]:
    return [s for s in model.sites() if staff.scope.covers_site(s.site_id, s.region_id)]


def site_in_scope(staff: Staff, model: Clinic, site_id: str) -> SiteView:
    """The site, 403 outside the key's sites, 404 unknown to a key that could see it."""
    site = next((s for s in model.sites() if s.site_id == site_id), None)
    region = None if site is None else site.region_id
    if not staff.scope.covers_site(site_id, region):
        raise BoardRefusal(403, "That site is not one of your key's sites.")
    if site is None:
        raise BoardRefusal(404, "No such site on the roster.")
    return site


def not_here(staff: Staff, what: str) -> BoardRefusal:
    """One answer for the unknown and the out of scope (see the module docstring)."""
    if staff.scope.network:
        return BoardRefusal(404, f"No such {what}.")
    return BoardRefusal(403, f"That {what} is not within your key's sites.")


def client_in_scope(staff: Staff, model: Clinic, client_id: str) -> ClientView:
    view = model.client(client_id)
    if view is None or not reads_client(staff.principal, model, client_id):
        raise not_here(staff, "client")
    return view


def occurrence_in_scope(staff: Staff, model: Clinic, group_id: str, day: date) -> Occurrence:
    occurrence = model.occurrence(group_id, day)
    if occurrence is None or not writes_at(staff.principal, occurrence):
        raise not_here(staff, "group meeting")
    return occurrence
