"""API key scopes: network, regions, sites; keys held as hashes (pure)."""

import pytest
from iop_contracts.access import InvalidKeyring, Keyring, Scope, key_digest

SITE = Scope(name="bos-1 desk", sites=frozenset({"bos-1"}), regions=frozenset({"ne"}))
REGION = Scope(name="ne office", regions=frozenset({"ne"}))


def test_network_scope_covers_everything() -> None:
    assert Scope(name="hq", network=True).covers("se", [])


def test_region_scope_covers_its_regions_only() -> None:
    assert REGION.covers("ne", ["bos-1", "prov-1"])
    assert REGION.covers("ne", [])
    assert not REGION.covers("se", ["atl-1"])


def test_site_scope_covers_a_client_only_when_all_their_sites_are_its_own() -> None:
    assert SITE.covers("ne", ["bos-1"])
    assert not SITE.covers("ne", ["bos-1", "bos-2"])
    assert not SITE.covers("ne", ["bos-2"])
    assert not SITE.covers("ne", [])  # telehealth only: belongs to no site
    assert not SITE.covers("se", ["bos-1"])


def test_a_scope_must_say_what_it_covers() -> None:
    with pytest.raises(ValueError):
        Scope(name="nothing")
    with pytest.raises(ValueError):
        Scope(name="both", network=True, regions=frozenset({"ne"}))


def test_keyring_matches_keys_by_hash_and_refuses_others() -> None:
    keyring = Keyring({key_digest("s3cret-bos-1"): SITE.model_dump(mode="json")}, "INTAKE_API_KEYS")
    principal = keyring.principal("s3cret-bos-1")
    assert principal is not None and principal.scope == SITE
    assert keyring.principal("wrong") is None
    assert keyring.principal(None) is None


def test_without_keys_authentication_is_off_and_everyone_has_network_scope() -> None:
    keyring = Keyring({}, "INTAKE_API_KEYS")
    assert not keyring.enabled
    principal = keyring.principal(None)
    assert principal is not None and principal.scope.network


def test_an_invalid_scope_is_refused_without_echoing_the_configuration() -> None:
    with pytest.raises(InvalidKeyring) as raised:
        Keyring(
            {key_digest("k"): {"name": "x", "sites": "bos-1", "secret": "hunter2"}},
            "INTAKE_API_KEYS",
        )
    assert "hunter2" not in str(raised.value)


def test_a_raw_key_pasted_into_settings_is_refused_without_being_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iop_intake.settings import IntakeSettings
    from pydantic import ValidationError

    monkeypatch.setenv("INTAKE_API_KEYS", '{"raw-secret-key": {"name": "x", "network": true}}')
    with pytest.raises(ValidationError) as raised:
        IntakeSettings()
    assert "raw-secret-key" not in str(raised.value)
    assert "sha256" in str(raised.value)
