"""Who may touch which clients: API key scopes over the network, regions and sites.

A key is scoped to the whole network, or to regions, or to sites (optionally also regions). A
site-scoped key touches only clients all of whose sites are its own: for an enrollment, every
preferred site; for an existing client, the site they are scheduled at, else their preferred sites.
A client with no site (telehealth only, not yet placed) belongs to no site, so only network and
region keys reach them.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iop_intake.errors import InvalidSettings


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    network: bool = False
    regions: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _scoped_somewhere(self) -> "Scope":
        if self.network == bool(self.regions or self.sites):
            raise ValueError("a scope is either network-wide or names regions and/or sites")
        return self

    def covers(self, region_id: str, site_ids: Iterable[str]) -> bool:
        if self.network:
            return True
        if self.regions and region_id not in self.regions:
            return False
        if self.sites:
            sites = set(site_ids)
            return bool(sites) and sites <= self.sites
        return True


NETWORK = Scope(name="open", network=True)
"""The scope of every request when no API keys are configured (authentication off)."""


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: the key's name (safe to log) and its scope, never the key."""

    name: str
    scope: Scope


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class Keyring:
    """The configured API keys, held only as sha256 digests."""

    def __init__(self, scopes_by_digest: Mapping[str, Mapping[str, Any]]) -> None:
        self._scopes: dict[str, Scope] = {}
        for digest, raw in scopes_by_digest.items():
            try:
                self._scopes[digest.lower()] = Scope.model_validate(raw)
            except ValidationError as error:
                fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
                raise InvalidSettings(f"INTAKE_API_KEYS: invalid scope ({fields})") from None

    @property
    def enabled(self) -> bool:
        return bool(self._scopes)

    def principal(self, api_key: str | None) -> Principal | None:
        """The principal of a presented key; None when it matches no configured key."""
        if not self.enabled:
            return Principal(NETWORK.name, NETWORK)
        if not api_key:
            return None
        scope = self._scopes.get(key_digest(api_key))
        return Principal(scope.name, scope) if scope else None
