"""The shared API key scopes: what intake's tests do not already cover (a named site, the
presented key, digests and the setting named in errors)."""

import pytest
from iop_contracts.access import (
    InvalidKeyring,
    Keyring,
    Scope,
    checked_digests,
    key_digest,
    presented_key,
)

SITE = Scope(name="bos-1 desk", sites=frozenset({"bos-1"}), regions=frozenset({"ne"}))


def test_a_site_key_covers_its_own_named_site_only() -> None:
    assert SITE.covers_site("bos-1", "ne")
    assert not SITE.covers_site("bos-2", "ne")
    assert not SITE.covers_site("bos-1", "se")


def test_a_region_key_covers_every_site_of_its_regions() -> None:
    region = Scope(name="ne office", regions=frozenset({"ne"}))
    assert region.covers_site("bos-2", "ne")
    assert not region.covers_site("atl-1", "se")
    assert not region.covers_site("bos-2", None)  # a site of no known region: not its own


def test_a_network_key_covers_any_site() -> None:
    assert Scope(name="hq", network=True).covers_site("anywhere", None)


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "k1"}, "k1"),
        ({"authorization": "Bearer k2"}, "k2"),
        ({"authorization": "bearer  k3 "}, "k3"),
        ({"authorization": "Basic k4"}, None),
        ({"authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_the_presented_key(headers: dict[str, str], key: str | None) -> None:
    assert presented_key(headers) == key


def test_digests_are_lower_cased_and_a_raw_key_is_refused_by_the_setting_name() -> None:
    digest = key_digest("k").upper()
    assert checked_digests({digest: {}}, "CLINIC_API_KEYS") == {digest.lower(): {}}
    with pytest.raises(ValueError, match="CLINIC_API_KEYS") as raised:
        checked_digests({"raw-secret": {}}, "CLINIC_API_KEYS")
    assert "raw-secret" not in str(raised.value)


def test_an_invalid_scope_names_the_setting_it_came_from() -> None:
    with pytest.raises(InvalidKeyring, match=r"^CLINIC_API_KEYS: invalid scope"):
        Keyring({key_digest("k"): {"name": "x"}}, "CLINIC_API_KEYS")
