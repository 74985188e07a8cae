"""Who may touch which clients: API key scopes over the network, regions and sites.

Shared by every service with an HTTP API (intake, clinic), so that one key configured in both
means the same thing in both. A key is scoped to the whole network, or to regions, or to sites
(optionally also regions). A site-scoped key touches only clients all of whose sites are its own:
for an enrollment, every preferred site; for an existing client, the site they are scheduled at,
else their preferred sites. A client with no site (telehealth only, not yet placed) belongs to no
site, so only network and region keys reach them.

Keys are configured as `{"<sha256 hex of the key>": {"name": ..., "network": true}}` or
`{"<sha256>": {"name": ..., "regions": [...], "sites": [...]}}`; the key itself is never stored.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_HEX = frozenset("0123456789abcdef")


class InvalidKeyring(ValueError):
    """An API key setting cannot be used; the message names the setting, never a key or scope."""


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

    def covers_site(self, site_id: str, region_id: str | None) -> bool:
        """Whether the key reaches one named site (of a region, when it is known)."""
        if self.network:
            return True
        if self.regions and region_id not in self.regions:
            return False
        return not self.sites or site_id in self.sites


NETWORK = Scope(name="open", network=True)
"""The scope of every request when no API keys are configured (authentication off)."""


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: the key's name (safe to log) and its scope, never the key."""

    name: str
    scope: Scope


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def checked_digests(keys: Mapping[str, Any], setting: str) -> dict[str, Any]:
    """The configured keys with their digests lower-cased; a ValueError naming ``setting`` when
    one is not a sha256 hex digest (never echoing it: an operator may have pasted a raw key)."""
    for digest in keys:
        if len(digest) != 64 or any(c not in _HEX for c in digest.lower()):
            raise ValueError(f"every {setting} key must be a sha256 hex digest")
    return {digest.lower(): scope for digest, scope in keys.items()}


class Keyring:
    """The configured API keys, held only as sha256 digests; ``setting`` names them in errors."""

    def __init__(self, scopes_by_digest: Mapping[str, Mapping[str, Any]], setting: str) -> None:
        self._scopes: dict[str, Scope] = {}
        for digest, raw in scopes_by_digest.items():
            try:
                self._scopes[digest.lower()] = Scope.model_validate(raw)
            except ValidationError as error:
                fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
                raise InvalidKeyring(f"{setting}: invalid scope ({fields})") from None

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


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, as `X-API-Key: <key>` or `Authorization: Bearer <key>`
    (``headers`` looked up by lower-case name, as Starlette's are)."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


def auth_refusal(prefix: str, *, has_keys: bool, auth_disabled: bool) -> str | None:
    """Why a service with API keys (settings ``<prefix>_API_KEYS`` and ``<prefix>_AUTH_DISABLED``)
    must not start: authentication off without saying so (safe by default), or both on and off
    at once. None when it may start."""
    if has_keys and auth_disabled:
        return f"{prefix}_API_KEYS is set and {prefix}_AUTH_DISABLED=true; choose one"
    if not has_keys and not auth_disabled:
        return (
            f"authentication is off ({prefix}_API_KEYS is empty); configure API keys "
            f"(see docs/security-platform.md) or set {prefix}_AUTH_DISABLED=true to run "
            "without authentication on a trusted network"
        )
    return None
