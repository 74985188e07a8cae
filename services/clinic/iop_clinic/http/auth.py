"""API keys as intake's (iop_contracts.access): `X-API-Key` or `Authorization: Bearer`, held
hashed; and what a key's scope reaches in the clinic's read model.

A key reads a client when its scope covers the client's region and every site the client is
seen at (intake's rule). It writes attendance at an occurrence held at one of its sites: the
staff who run a group record its roll call, make-up guests from other sites included."""

from collections.abc import Collection
from typing import Annotated

from fastapi import Depends, Request
from iop_contracts.access import Principal, presented_key

from iop_clinic.domain import Clinic
from iop_clinic.domain.views import Occurrence, SiteView
from iop_clinic.errors import Unauthenticated
from iop_clinic.http.problems import Problem
from iop_clinic.runtime import ClinicRuntime


def runtime_of(request: Request) -> ClinicRuntime:
    runtime: ClinicRuntime = request.app.state.clinic
    return runtime


def principal_of(request: Request) -> Principal:
    principal = runtime_of(request).keyring.principal(presented_key(request.headers))
    if principal is None:
        raise Unauthenticated("no valid API key")
    return principal


Caller = Annotated[Principal, Depends(principal_of)]
Runtime = Annotated[ClinicRuntime, Depends(runtime_of)]


def reads_client(caller: Principal, model: Clinic, client_id: str) -> bool:
    region = model.client_region(client_id)
    return region is not None and caller.scope.covers(region, model.client_sites(client_id))


def writes_at(caller: Principal, occurrence: Occurrence) -> bool:
    return caller.scope.covers_site(occurrence.site_id, occurrence.region_id)


def unknown_client(caller: Principal, client_id: str) -> Problem:
    """One answer for an unknown client and one outside the key's scope, so that neither tells
    whether the other exists: 403 to a key scoped to regions or sites (whatever lies outside its
    scope is forbidden to it, known or not), 404 to a network key (nothing is outside its scope)."""
    if caller.scope.network:
        return Problem(404, f"no client {client_id} known")
    return Problem(403, f"client {client_id} is not within this key's scope")


def unknown_occurrence(caller: Principal, group_id: str, day: str) -> Problem:
    """As `unknown_client`, for a group's occurrence on a date."""
    if caller.scope.network:
        return Problem(404, f"no occurrence of group {group_id} on {day} known")
    return Problem(403, f"no occurrence of group {group_id} on {day} within this key's scope")


def scoped_sites(caller: Principal, model: Clinic, site_id: str | None) -> list[SiteView]:
    """The sites a request covers: the one it names (403 outside the key's scope, 404 unknown
    to a key that could see it), else every site of the key's scope."""
    sites = model.sites()
    if site_id is None:
        return [s for s in sites if caller.scope.covers_site(s.site_id, s.region_id)]
    site = next((s for s in sites if s.site_id == site_id), None)
    region = site.region_id if site is not None else None
    if not caller.scope.covers_site(site_id, region):
        raise Problem(403, f"site {site_id} lies outside this key's scope")
    if site is None:
        raise Problem(404, f"no site {site_id} on the roster")
    return [site]


SiteIds = Collection[str] | None


def site_ids(caller: Principal, model: Clinic, site: str | None) -> SiteIds:
    """None (every site) for a network key that names none; else the sites in scope."""
    if site is None and caller.scope.network:
        return None
    return {s.site_id for s in scoped_sites(caller, model, site)}
